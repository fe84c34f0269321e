"""HTTP routes of the federation domain.

Two audiences. Merchant admins (bearer auth, like every other route) create
invitations, accept them, send parcels to partner pickup points, and their
staff receive and hand over partners' parcels. Partner instances call the
routes under `/federation/handshake` and `/federation/links/{link_id}/…`, which
take no bearer token: each request must carry an RFC 9421 signature by the
partner's instance key (401 otherwise), and the capability it needs must have
been negotiated on the link (403 otherwise).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.errors import BadRequest, InvalidInput
from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, app_state, idempotent
from oao.federation import client, parcels, points, service, stock
from oao.federation.models import FederationLink, RemoteStock
from oao.federation.schemas import (
    DeliveryOut,
    InvitationIn,
    InvitationOut,
    LinkIn,
    LinkOut,
    LinkStatusIn,
    ParcelHandoverIn,
    ParcelHandoverOut,
    ParcelIn,
    ParcelOut,
    RemoteAvailabilityOut,
    RemoteLocationOut,
    RemoteStockOut,
    StockRefreshIn,
    StockShareIn,
    StockShareOut,
)

router = APIRouter(tags=["federation"], responses=PROBLEM_RESPONSES)
PREFIX = "/federation"


async def raw_body(request: Request) -> bytes:
    """The exact bytes received: the Content-Digest covers them, not a re-serialisation."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def _http(request: Request) -> httpx.Client | None:
    """Tests may hand the app an httpx client (e.g. one bound to a partner app); otherwise one per call."""
    return getattr(request.app.state, "federation_http", None)


def _merchant(ctx: Any, requested: str | None) -> str:
    merchant_id = requested or ctx.principal.merchant_id
    if merchant_id is None:
        raise InvalidInput("Give merchant_id: a network admin acts for no merchant by default.")
    return merchant_id


# --- identity -----------------------------------------------------------------------------------

@router.get(f"{PREFIX}/identity", summary="This instance's federation key and endpoints (public)")
def identity(request: Request) -> dict[str, Any]:
    db, clock, settings = app_state(request)
    with db.read() as session:  # a public GET must not take the writer lock, except the very first time
        if service.has_instance_key(session):
            return service.identity(session, public_url=settings.public_url, secret_key=settings.secret_key,
                                    now=clock.now())
    with db.unit_of_work() as session:  # the key pair is generated on first use
        return service.identity(session, public_url=settings.public_url, secret_key=settings.secret_key,
                                now=clock.now())


# --- links (merchant admins) -------------------------------------------------------------------

@router.post(f"{PREFIX}/invitations", response_model=InvitationOut, status_code=201,
             summary="Create a one-time invitation token for a partner instance")
def create_invitation(body: InvitationIn, ctx: CtxDep) -> InvitationOut:
    with ctx.tx() as session:
        invitation, token = service.create_invitation(
            session, principal=ctx.principal, merchant_id=_merchant(ctx, body.merchant_id),
            capabilities=body.capabilities, pickup_fee_minor=body.pickup_fee_minor, currency=body.currency,
            ttl_minutes=body.expires_in_minutes, public_url=ctx.settings.public_url,
            secret_key=ctx.settings.secret_key, now=ctx.now())
        return InvitationOut(id=invitation.id, merchant_id=invitation.merchant_id, token=token,
                             capabilities=invitation.capabilities, expires_at=invitation.expires_at)


@router.post(f"{PREFIX}/links", response_model=LinkOut, status_code=201,
             summary="Accept a partner's invitation: handshake with its instance and store the link")
def accept_invitation(body: LinkIn, ctx: CtxDep, request: Request) -> LinkOut:
    link = client.accept_invitation(
        ctx.db, principal=ctx.principal, merchant_id=_merchant(ctx, body.merchant_id), token=body.token,
        capabilities=body.capabilities, pickup_fee_minor=body.pickup_fee_minor, currency=body.currency,
        public_url=ctx.settings.public_url, secret_key=ctx.settings.secret_key, now=ctx.now(), http=_http(request))
    return LinkOut.model_validate(link)


@router.get(f"{PREFIX}/links", response_model=list[LinkOut])
def list_links(ctx: CtxDep) -> list[LinkOut]:
    with ctx.read() as session:
        return [LinkOut.model_validate(l) for l in service.list_links(session, principal=ctx.principal)]


@router.get(f"{PREFIX}/links/{{link_id}}", response_model=LinkOut)
def read_link(link_id: str, ctx: CtxDep) -> LinkOut:
    with ctx.read() as session:
        return LinkOut.model_validate(service.get_link(session, link_id=link_id, principal=ctx.principal))


@router.post(f"{PREFIX}/links/{{link_id}}/status", response_model=LinkOut, summary="Suspend or reactivate a link")
def set_link_status(link_id: str, body: LinkStatusIn, ctx: CtxDep) -> LinkOut:
    with ctx.tx() as session:
        return LinkOut.model_validate(service.set_link_status(session, link_id=link_id, principal=ctx.principal,
                                                              status=body.status, now=ctx.now()))


@router.post(f"{PREFIX}/links/{{link_id}}/pickup-locations/refresh", response_model=list[RemoteLocationOut],
             summary="Fetch the partner's pickup locations through the link")
def refresh_pickup_locations(link_id: str, ctx: CtxDep, request: Request) -> list[RemoteLocationOut]:
    with ctx.read() as session:
        link = service.get_link(session, link_id=link_id, principal=ctx.principal)
        ctx.principal.ensure_admin_of(link.merchant_id)
        service.require_capability(link, "pickup")
        merchant_id = link.merchant_id
    client.refresh_pickup_locations(ctx.db, link_id=link_id, secret_key=ctx.settings.secret_key, now=ctx.now(),
                                    http=_http(request))
    with ctx.read() as session:
        rows = service.federated_pickup_locations(session, merchant_id=merchant_id)
        return [RemoteLocationOut.model_validate(r) for r in rows if r.link_id == link_id]


@router.get(f"{PREFIX}/pickup-locations", response_model=list[RemoteLocationOut],
            summary="Partner pickup points on linked instances your orders can be sent to")
def federated_pickup_locations(ctx: CtxDep) -> list[RemoteLocationOut]:
    scope = None if ctx.principal.is_network_admin else ctx.principal.merchant_id
    with ctx.read() as session:
        return [RemoteLocationOut.model_validate(r)
                for r in service.federated_pickup_locations(session, merchant_id=scope)]


# --- stock visibility (both sides) ----------------------------------------------------------------

@router.get(f"{PREFIX}/links/{{link_id}}/stock-sharing", response_model=StockShareOut | None,
            summary="Which products' stock the partner of this link may see (null: none)")
def read_stock_share(link_id: str, ctx: CtxDep) -> StockShareOut | None:
    with ctx.read() as session:
        share = stock.get_share(session, link_id=link_id, principal=ctx.principal)
        return StockShareOut.model_validate(share) if share is not None else None


@router.put(f"{PREFIX}/links/{{link_id}}/stock-sharing", response_model=StockShareOut,
            summary="Choose the products (GTINs, or all you offer) whose stock the partner may see; needs "
                    "`stock_visibility` (and your sharing policy must permit stock_levels for fulfillment)")
def put_stock_share(link_id: str, body: StockShareIn, ctx: CtxDep) -> StockShareOut:
    with ctx.tx() as session:
        return StockShareOut.model_validate(stock.set_share(
            session, link_id=link_id, principal=ctx.principal, scope=body.scope, gtins=body.gtins,
            precision=body.precision, now=ctx.now()))


@router.post(f"{PREFIX}/links/{{link_id}}/stock/refresh", response_model=list[RemoteStockOut],
             summary="Fetch the partner's availability of these GTINs through the link and cache it")
def refresh_stock(link_id: str, body: StockRefreshIn, ctx: CtxDep, request: Request) -> list[RemoteStockOut]:
    with ctx.read() as session:
        link = service.get_link(session, link_id=link_id, principal=ctx.principal)
        service.require_capability(link, "stock_visibility")
        asked = [stock.normalised(g) for g in body.gtins]
    client.refresh_remote_stock(ctx.db, link_id=link_id, gtins=asked, secret_key=ctx.settings.secret_key,
                                now=ctx.now(), http=_http(request))
    with ctx.read() as session:
        query = select(RemoteStock).where(RemoteStock.link_id == link_id)
        if asked:
            query = query.where(RemoteStock.gtin14.in_(asked))
        rows = session.scalars(query.order_by(RemoteStock.gtin14, RemoteStock.remote_location_id))
        return [RemoteStockOut.model_validate(r) for r in rows]


@router.get(f"{PREFIX}/stock/nearby", response_model=list[RemoteAvailabilityOut],
            summary="Who on a linked instance has this GTIN near a point (nearest first)")
def stock_nearby(ctx: CtxDep, request: Request, gtin: Annotated[str, Query(max_length=14)],
                 latitude: float, longitude: float,
                 radius_km: Annotated[float, Query(gt=0, le=200)] = stock.DEFAULT_RADIUS_KM,
                 refresh: bool = False) -> list[RemoteAvailabilityOut]:
    scope = None if ctx.principal.is_network_admin else ctx.principal.merchant_id
    if refresh:
        found = client.who_has(ctx.db, merchant_id=scope, gtin=gtin, latitude=latitude, longitude=longitude,
                               secret_key=ctx.settings.secret_key, now=ctx.now(), radius_km=radius_km,
                               http=_http(request))
    else:
        with ctx.read() as session:
            found = stock.who_has(session, merchant_id=scope, gtin=gtin, latitude=latitude, longitude=longitude,
                                  now=ctx.now(), radius_km=radius_km)
    return [RemoteAvailabilityOut.model_validate(a) for a in found]


# --- parcels (both sides) ------------------------------------------------------------------------

def _deliver(ctx: Any, request: Request, link_id: str | None) -> None:
    """Send what the request queued, now that it is committed; the worker retries what fails."""
    client.deliver(ctx.db, secret_key=ctx.settings.secret_key, now=ctx.now(), http=_http(request), link_id=link_id)


@router.post(f"{PREFIX}/parcels", response_model=ParcelOut, status_code=201,
             summary="Send a packed pickup order to a partner's pickup point on a linked instance")
def send_parcel(body: ParcelIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    response = idempotent(ctx, request, idempotency_key, body, 201, lambda s: ParcelOut.model_validate(
        parcels.send_parcel(s, principal=ctx.principal, order_id=body.order_id, link_id=body.link_id,
                            remote_location_id=body.remote_location_id, parcel_count=body.parcel_count,
                            now=ctx.now())))
    _deliver(ctx, request, body.link_id)
    return response


@router.get(f"{PREFIX}/parcels", response_model=list[ParcelOut],
            summary="Parcels expected at or waiting in your pickup points (host), or sent to partners (sender)")
def list_parcels(ctx: CtxDep, role: Annotated[str | None, Query(pattern="^(sender|host)$")] = None,
                 location_id: Annotated[str | None, Query(max_length=40)] = None,
                 status: Annotated[str | None, Query(max_length=20)] = None) -> list[ParcelOut]:
    with ctx.read() as session:
        return [ParcelOut.model_validate(p) for p in parcels.list_parcels(
            session, principal=ctx.principal, role=role, location_id=location_id, status=status)]


@router.get(f"{PREFIX}/parcels/{{parcel_id}}", response_model=ParcelOut)
def read_parcel(parcel_id: str, ctx: CtxDep) -> ParcelOut:
    with ctx.read() as session:
        return ParcelOut.model_validate(parcels.get_parcel(session, parcel_id=parcel_id, principal=ctx.principal))


@router.post(f"{PREFIX}/parcels/{{parcel_id}}/receive", response_model=ParcelOut,
             summary="Pickup point staff received a partner's parcel: it is ready for the shopper")
def receive_parcel(parcel_id: str, ctx: CtxDep, request: Request,
                   idempotency_key: IdempotencyKey = None) -> Response:
    link_ids: list[str] = []

    def run(session: Session) -> ParcelOut:
        parcel = parcels.receive(session, principal=ctx.principal, parcel_id=parcel_id, now=ctx.now())
        link_ids.append(parcel.link_id)
        return ParcelOut.model_validate(parcel)

    response = idempotent(ctx, request, idempotency_key, None, 200, run)
    _deliver(ctx, request, link_ids[0] if link_ids else None)
    return response


@router.post(f"{PREFIX}/parcels/handover", response_model=ParcelHandoverOut,
             summary="Hand over partners' parcels to a shopper who shows her pickup code")
def hand_over(body: ParcelHandoverIn, ctx: CtxDep, request: Request,
              idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> ParcelHandoverOut:
        done = parcels.hand_over(session, principal=ctx.principal, location_id=body.location_id, code=body.code,
                                 now=ctx.now())
        return ParcelHandoverOut(parcels=[ParcelOut.model_validate(p) for p in done],
                                 message=f"Hand over {sum(p.parcel_count for p in done)} parcel(s) for "
                                         f"{', '.join(p.customer_first_name or p.order_reference for p in done)}.")

    response = idempotent(ctx, request, idempotency_key, body, 200, run)
    _deliver(ctx, request, None)
    return response


@router.post(f"{PREFIX}/outbound/deliver", response_model=DeliveryOut,
             summary="Send queued partner messages now (the worker also does, with backoff)")
def deliver_now(ctx: CtxDep, request: Request) -> DeliveryOut:
    ctx.principal.ensure_network_admin()
    return DeliveryOut(delivered=client.deliver(ctx.db, secret_key=ctx.settings.secret_key, now=ctx.now(),
                                                http=_http(request)))


# --- partner-facing, signed ---------------------------------------------------------------------

def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise BadRequest("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    return data


def _reload(session: Session, link: FederationLink | None) -> FederationLink:
    assert link is not None  # _verified found it when link_id was given
    fresh = session.get(FederationLink, link.id)
    assert fresh is not None
    return fresh


def _verified(request: Request, body: bytes, *, link_id: str | None = None,
              presented_key: tuple[str, str] | None = None, capability: str | None = None) -> FederationLink | None:
    """401 unless the request is signed by the link's partner (fresh, unreplayed); 403 without the capability."""
    db, clock, settings = app_state(request)
    url = settings.public_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    with db.unit_of_work() as session:  # its own transaction: a spent nonce stays spent whatever follows
        _, link = service.verify_inbound(session, method=request.method, url=url, headers=request.headers.items(),
                                         body=body, now=clock.now(), link_id=link_id, presented_key=presented_key)
    if link is not None and capability is not None:
        service.require_capability(link, capability)
    return link


@router.post(f"{PREFIX}/handshake", summary="(partner) Complete a link with an invitation nonce; signed")
def handshake(request: Request, body: RawBody) -> dict[str, Any]:
    data = _json(body)
    presented = (str(data.get("key_id") or ""), str(data.get("public_key") or ""))
    _verified(request, body, presented_key=presented)
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        return service.accept_handshake(session, body=data, key_id=presented[0], now=clock.now(),
                                        settings=app_state(request)[2])


@router.get(f"{PREFIX}/links/{{link_id}}/pickup-locations",
            summary="(partner) Our pickup locations open to the partner; signed, needs `pickup`")
def partner_pickup_locations(link_id: str, request: Request, body: RawBody) -> dict[str, Any]:
    link = _verified(request, body, link_id=link_id, capability="pickup")
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:  # the disclosure is recorded
        return service.pickup_locations_payload(session, link=_reload(session, link), now=clock.now())


@router.post(f"{PREFIX}/links/{{link_id}}/parcels", status_code=201,
             summary="(partner) A parcel is on its way to one of our pickup locations; signed, needs `pickup`")
def partner_parcel_expected(link_id: str, request: Request, body: RawBody) -> JSONResponse:
    link = _verified(request, body, link_id=link_id, capability="pickup")
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        parcel = parcels.accept_expected(session, link=_reload(session, link), body=_json(body), now=clock.now())
        answer = {"parcel_id": parcel.id, "status": parcel.status}
    return JSONResponse(answer, status_code=201)


@router.post(f"{PREFIX}/links/{{link_id}}/parcels/{{parcel_id}}/events",
             summary="(partner) News about a parcel we sent: ready, handed over, cancelled; signed, needs `pickup`")
def partner_parcel_event(link_id: str, parcel_id: str, request: Request, body: RawBody) -> dict[str, Any]:
    link = _verified(request, body, link_id=link_id, capability="pickup")
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        parcel = parcels.apply_event(session, link=_reload(session, link), parcel_id=parcel_id, body=_json(body),
                                     now=clock.now())
        return {"parcel_id": parcel.id, "status": parcel.status}


@router.get(f"{PREFIX}/links/{{link_id}}/parcels/{{parcel_id}}",
            summary="(partner) Where a parcel stands; signed, needs `order_handoff`")
def partner_parcel_status(link_id: str, parcel_id: str, request: Request, body: RawBody) -> dict[str, Any]:
    link = _verified(request, body, link_id=link_id, capability="order_handoff")
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        return parcels.status_for_partner(session, link=_reload(session, link), parcel_id=parcel_id, now=clock.now())


@router.get(f"{PREFIX}/links/{{link_id}}/stock",
            summary="(partner) Availability of the products we share, per GTIN and location; signed, needs "
                    "`stock_visibility`")
def partner_stock(link_id: str, request: Request, body: RawBody,
                  gtin: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    link = _verified(request, body, link_id=link_id, capability="stock_visibility")
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:  # the disclosure is recorded
        return stock.stock_payload(session, link=_reload(session, link), gtins=gtin or [], now=clock.now())


@router.post(f"{PREFIX}/links/{{link_id}}/points/holds",
             summary="(partner) Hold points of a member recognised through the link; signed, needs "
                     "`points_settlement`")
def partner_points_hold(link_id: str, request: Request, body: RawBody) -> dict[str, Any]:
    link = _verified(request, body, link_id=link_id, capability=points.CAPABILITY)
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        return points.hold_for_partner(session, link=_reload(session, link), body=_json(body), now=clock.now())


@router.post(f"{PREFIX}/links/{{link_id}}/points/holds/{{hold_id}}/post",
             summary="(partner) Spend held points (all or fewer) and settle them; signed, needs `points_settlement`")
def partner_points_post(link_id: str, hold_id: str, request: Request, body: RawBody) -> dict[str, Any]:
    link = _verified(request, body, link_id=link_id, capability=points.CAPABILITY)
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        return points.post_for_partner(session, link=_reload(session, link), hold_id=hold_id, body=_json(body),
                                       now=clock.now())


@router.post(f"{PREFIX}/links/{{link_id}}/points/holds/{{hold_id}}/void",
             summary="(partner) Release held points; signed, needs `points_settlement`")
def partner_points_void(link_id: str, hold_id: str, request: Request, body: RawBody) -> dict[str, Any]:
    link = _verified(request, body, link_id=link_id, capability=points.CAPABILITY)
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        return points.void_for_partner(session, link=_reload(session, link), hold_id=hold_id, now=clock.now())
