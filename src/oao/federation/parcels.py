"""S2 across instances: a seller's order collected at a partner's pickup point
on another OAO (or compatible) instance.

Seller (A)                                   Pickup point (B)
order leg packed (ready_for_pickup, code) ─► parcel.expected  (code hash, count, first name, fee)
                                             staff receive it ─► parcel.ready
                                             shopper shows code, hash checked ─► parcel.handed_over
A's leg and order complete, fee entry        fee entry (same id) in B's ledger
in A's ledger (same id)

Every message leaves through the data-sharing projection and the outbound
table (sent after commit); every inbound message is idempotent, so a resend
after a lost answer changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.auth import Principal, Role
from oao.core.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.federation import protocol
from oao.federation import service as federation
from oao.federation.models import FederatedParcel, FederationLink, FederationOutbound
from oao.fulfillment import lifecycle
from oao.network import service as network
from oao.orders import service as orders
from oao.settlement import service as settlement

PICKUP_FEE_KIND = "pickup_fee"


def _event(session: Session, parcel: FederatedParcel, type_: str, now: datetime, **extra: Any) -> None:
    record_event(session, type=type_, subject_id=parcel.id, merchant_id=parcel.merchant_id,
                 payload={"parcel_id": parcel.id, "link_id": parcel.link_id, "role": parcel.role,
                          "status": parcel.status, "order_id": parcel.order_id,
                          "order_reference": parcel.order_reference, "location_id": parcel.location_id,
                          "remote_location_id": parcel.remote_location_id, **extra}, at=now)


def _active_link(session: Session, link_id: str, principal: Principal) -> FederationLink:
    link = federation.get_link(session, link_id=link_id, principal=principal)
    if link.status != "active":
        raise InvalidState(f"Link {link.id} is {link.status}.")
    federation.require_capability(link, "pickup")
    return link


# --- seller side (A) ------------------------------------------------------------------------------

def send_parcel(session: Session, *, principal: Principal, order_id: str, link_id: str, remote_location_id: str,
                parcel_count: int, now: datetime) -> FederatedParcel:
    """Hand a packed pickup leg to a partner's pickup point: the shopper collects it there with her code."""
    order = orders.get_order(session, order_id=order_id, principal=principal)
    link = _active_link(session, link_id, principal)
    if link.merchant_id != order.merchant_id:
        raise Forbidden("That link belongs to another merchant than the order's seller.")
    place = federation.remote_location(session, link_id=link.id, remote_location_id=remote_location_id)
    if not 1 <= parcel_count <= 50:
        raise InvalidInput("parcel_count is 1 to 50.")
    legs = [f for f in lifecycle.of_order(session, order_id=order.id)
            if f.kind == "pickup" and f.status == "ready_for_pickup" and f.pickup_code]
    if not legs:
        raise InvalidState(f"Order {order.id} has no packed pickup leg (ready for pickup with a code) to send.")
    leg = legs[0]
    taken = session.scalar(select(FederatedParcel.id).where(FederatedParcel.fulfillment_id == leg.id,
                                                            FederatedParcel.status != "cancelled"))
    if taken is not None:
        raise Conflict(f"Order {order.id} was already sent to a partner pickup point (parcel {taken}).",
                       parcel_id=taken)
    fee = int(link.remote_terms.get("pickup_fee_minor", 0))
    currency = str(link.remote_terms.get("currency") or order.currency)
    parcel = FederatedParcel(
        id=new_id("fpc"), link_id=link.id, merchant_id=order.merchant_id, role="sender", status="expected",
        order_id=order.id, fulfillment_id=leg.id, order_reference=order.id, remote_parcel_id=None,
        location_id=None, remote_location_id=place.remote_location_id, parcel_count=parcel_count,
        pickup_code_hash=protocol.hash_pickup_code(leg.pickup_code or ""),
        customer_first_name=protocol.first_name(order.customer_name), fee_minor=fee, currency=currency,
        settlement_entry_id=None, expected_at=leg.goods_arrive_at or leg.promised_at, created_at=now,
        updated_at=now, ready_at=None, handed_over_at=None)
    session.add(parcel)
    session.flush()
    merchant = network.get_merchant(session, merchant_id=order.merchant_id)
    body = federation.project(
        session, link=link, purpose="fulfillment", payload_kind=protocol.PARCEL_EXPECTED.name, now=now,
        payload={"message_id": new_id("fmid"), "parcel_id": parcel.id, "order_reference": order.id,
                 "merchant": {"id": merchant.id, "name": merchant.name},
                 "pickup_location_id": place.remote_location_id, "parcel_count": parcel_count,
                 "expected_at": parcel.expected_at.isoformat() if parcel.expected_at else None,
                 "pickup_code_hash": parcel.pickup_code_hash,
                 "customer": {"first_name": parcel.customer_first_name},
                 "fee": {"amount_minor": fee, "currency": currency}},
        required=("parcel_id", "order_reference", "pickup_location_id", "pickup_code_hash", "parcel_count"))
    federation.queue_message(session, link=link, kind="parcel.expected", subject_id=parcel.id, method="POST",
                             path=federation.link_path(link, "/parcels"), body=body, now=now)
    _event(session, parcel, "federation.parcel_sent", now, fee_minor=fee, currency=currency)
    return parcel


def _completion_principal(link: FederationLink) -> Principal:
    """Who completes the seller's leg when the partner handed it over: the link, acting for its merchant."""
    return Principal(kind="federation_link", id=link.id, name=f"partner pickup via {link.remote_url}",
                     role=Role.MERCHANT_ADMIN, merchant_id=link.merchant_id)


def apply_event(session: Session, *, link: FederationLink, parcel_id: str, body: dict[str, Any],
                now: datetime) -> FederatedParcel:
    """A partner's news about a parcel we sent (ready, handed over, cancelled); repeats change nothing."""
    parcel = session.scalar(select(FederatedParcel).where(FederatedParcel.id == parcel_id,
                                                          FederatedParcel.link_id == link.id,
                                                          FederatedParcel.role == "sender").with_for_update())
    if parcel is None:
        raise NotFound(f"No parcel {parcel_id!r} was sent through this link.")
    kind = body.get("type")
    if kind not in protocol.PARCEL_EVENT_TYPES:
        raise InvalidInput(f"Unknown parcel event {kind!r}; known: {', '.join(protocol.PARCEL_EVENT_TYPES)}.")
    if kind == "parcel.ready":
        if parcel.status == "expected":
            parcel.status, parcel.ready_at, parcel.updated_at = "ready", now, now
            _event(session, parcel, "federation.parcel_ready", now)
    elif kind == "parcel.cancelled":
        if parcel.status in ("expected", "ready"):
            parcel.status, parcel.updated_at = "cancelled", now
            _event(session, parcel, "federation.parcel_cancelled", now, reason=body.get("reason"))
    elif parcel.status != "handed_over":
        if parcel.status == "cancelled":
            raise InvalidState(f"Parcel {parcel.id} was cancelled here; it cannot be handed over.")
        entry = federation.as_object(body.get("settlement"))
        _check_entry(parcel, entry)
        leg = lifecycle.get(session, fulfillment_id=parcel.fulfillment_id or "")
        if leg.status == "ready_for_pickup" and leg.pickup_code and leg.pickup_location_id:
            lifecycle.hand_over(session, location_id=leg.pickup_location_id, code=leg.pickup_code,
                                principal=_completion_principal(link), now=now)
            orders.sync_status(session, order_id=leg.order_id, now=now)
        parcel.status, parcel.handed_over_at, parcel.updated_at = "handed_over", now, now
        if parcel.fee_minor > 0:
            parcel.settlement_entry_id = str(entry["entry_id"])
            settlement.record_entry(
                session, entry_id=parcel.settlement_entry_id, kind=PICKUP_FEE_KIND,
                debit=f"merchant:{parcel.merchant_id}", credit=partner_account(link), amount_minor=parcel.fee_minor,
                currency=parcel.currency, merchant_ids=[parcel.merchant_id], reference=parcel.order_reference,
                now=now)
        _event(session, parcel, "federation.parcel_handed_over", now, fee_minor=parcel.fee_minor,
               currency=parcel.currency, settlement_entry_id=parcel.settlement_entry_id)
    return parcel


def _check_entry(parcel: FederatedParcel, entry: dict[str, Any]) -> None:
    if parcel.fee_minor <= 0:
        return
    if not entry.get("entry_id"):
        raise InvalidInput("parcel.handed_over needs settlement.entry_id for a parcel with a pickup fee.")
    if entry.get("amount_minor") != parcel.fee_minor or entry.get("currency") != parcel.currency:
        raise Conflict(f"The pickup fee {entry.get('amount_minor')} {entry.get('currency')} differs from the "
                       f"{parcel.fee_minor} {parcel.currency} agreed when the parcel was sent.")


def partner_account(link: FederationLink) -> str:
    """The ledger account of the merchant across a link (settlement's `partner:<ref>`)."""
    return f"partner:fed:{link.id}"


def on_delivered(session: Session, *, message: FederationOutbound, answer: dict[str, Any], now: datetime) -> None:
    """The partner accepted a message: remember what its answer tells us (its parcel id)."""
    if message.kind == "parcel.expected" and message.subject_id:
        parcel = session.get(FederatedParcel, message.subject_id)
        if parcel is not None and parcel.remote_parcel_id is None and answer.get("parcel_id"):
            parcel.remote_parcel_id, parcel.updated_at = str(answer["parcel_id"])[:80], now


# --- pickup point side (B) ------------------------------------------------------------------------

def accept_expected(session: Session, *, link: FederationLink, body: dict[str, Any], now: datetime
                    ) -> FederatedParcel:
    """A partner announces a parcel for one of our pickup locations; a resend returns the same parcel."""
    remote_id = str(body.get("parcel_id") or "")[:80]
    if not remote_id:
        raise InvalidInput("parcel_id is required.")
    existing = session.scalar(select(FederatedParcel).where(
        FederatedParcel.link_id == link.id, FederatedParcel.role == "host",
        FederatedParcel.remote_parcel_id == remote_id))
    if existing is not None:
        return existing
    location_id = str(body.get("pickup_location_id") or "")
    try:
        location = network.get_location(session, location_id=location_id)
    except NotFound:
        location = None
    if location is None or location.merchant_id != link.merchant_id or not location.accepts_partner_pickups:
        raise InvalidInput(f"{location_id!r} is not one of our pickup locations for partners.")
    code_hash = str(body.get("pickup_code_hash") or "")
    if not protocol.valid_code_hash(code_hash):
        raise InvalidInput("pickup_code_hash must be pbkdf2-sha256$<iterations>$<salt>$<hash>.")
    count = body.get("parcel_count")
    if not isinstance(count, int) or not 1 <= count <= 50:
        raise InvalidInput("parcel_count must be an integer from 1 to 50.")
    fee = federation.as_object(body.get("fee"))
    ours = int(link.terms.get("pickup_fee_minor", 0))
    if fee.get("amount_minor", ours) != ours or fee.get("currency", link.terms.get("currency")) != link.terms.get(
            "currency"):
        raise Conflict(f"The pickup fee offered ({fee}) is not our current fee of {ours} "
                       f"{link.terms.get('currency')}; fetch our pickup locations again.")
    parcel = FederatedParcel(
        id=new_id("fpc"), link_id=link.id, merchant_id=link.merchant_id, role="host", status="expected",
        order_id=None, fulfillment_id=None, order_reference=str(body.get("order_reference") or remote_id)[:80],
        remote_parcel_id=remote_id, location_id=location.id, remote_location_id=None, parcel_count=count,
        pickup_code_hash=code_hash,
        customer_first_name=str(federation.as_object(body.get("customer")).get("first_name") or "")[:100],
        fee_minor=ours, currency=str(link.terms.get("currency")), settlement_entry_id=None,
        expected_at=_parse_time(body.get("expected_at")), created_at=now, updated_at=now, ready_at=None,
        handed_over_at=None)
    session.add(parcel)
    session.flush()
    _event(session, parcel, "federation.parcel_expected", now, parcel_count=count)
    return parcel


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _ensure_acts_at(session: Session, principal: Principal, parcel: FederatedParcel) -> None:
    location = network.get_location(session, location_id=parcel.location_id or "")
    if not principal.can_see_merchant(location.merchant_id):
        raise NotFound(f"No parcel {parcel.id!r}.")
    if principal.role is Role.STORE_STAFF and principal.location_id != location.id:
        raise Forbidden(f"Only staff of {location.name} can handle parcels there.")


def _notify(session: Session, parcel: FederatedParcel, kind: str, now: datetime,
            settlement_part: dict[str, Any] | None = None) -> None:
    link = session.get(FederationLink, parcel.link_id)
    assert link is not None
    body = federation.project(session, link=link, purpose="fulfillment", payload_kind=protocol.PARCEL_EVENT.name,
                              payload={"message_id": new_id("fmid"), "type": kind, "parcel_id": parcel.id,
                                       "at": now.isoformat(), "location_id": parcel.location_id},
                              now=now, required=("type", "parcel_id"))
    if settlement_part is not None:
        body.update(federation.project(session, link=link, purpose="settlement",
                                       payload_kind=protocol.PARCEL_SETTLEMENT.name,
                                       payload={"settlement": settlement_part}, now=now,
                                       required=("settlement.entry_id", "settlement.amount_minor")))
    federation.queue_message(session, link=link, kind=kind, subject_id=parcel.id, method="POST",
                             path=federation.link_path(link, f"/parcels/{parcel.remote_parcel_id}/events"),
                             body=body, now=now)


def receive(session: Session, *, principal: Principal, parcel_id: str, now: datetime) -> FederatedParcel:
    """Our staff took the parcel in: it waits for the shopper, and the seller is told."""
    parcel = get_parcel(session, parcel_id=parcel_id, principal=principal)
    if parcel.role != "host":
        raise InvalidState("Only the pickup point receives a parcel.")
    _ensure_acts_at(session, principal, parcel)
    if parcel.status == "ready":
        return parcel
    if parcel.status != "expected":
        raise InvalidState(f"Parcel {parcel.id} is {parcel.status}; only an expected parcel can be received.")
    parcel.status, parcel.ready_at, parcel.updated_at = "ready", now, now
    _notify(session, parcel, "parcel.ready", now)
    _event(session, parcel, "federation.parcel_ready", now)
    return parcel


def hand_over(session: Session, *, principal: Principal, location_id: str, code: str,
              now: datetime) -> list[FederatedParcel]:
    """The shopper shows her code at our counter: every ready parcel it opens is handed over."""
    location = network.get_location(session, location_id=location_id)
    if not principal.can_see_merchant(location.merchant_id):
        raise Forbidden(f"Only staff of {location.name} can hand over parcels there.")
    if principal.role is Role.STORE_STAFF and principal.location_id != location.id:
        raise Forbidden(f"Only staff of {location.name} can hand over parcels there.")
    if not protocol.normalise_code(code):
        raise InvalidInput("Enter or scan the pickup code.")
    waiting = list(session.scalars(select(FederatedParcel).where(
        FederatedParcel.role == "host", FederatedParcel.location_id == location.id,
        FederatedParcel.status.in_(("ready", "handed_over"))).order_by(FederatedParcel.id).with_for_update()))
    matches = [p for p in waiting if protocol.check_pickup_code(code, p.pickup_code_hash)]
    ready = [p for p in matches if p.status == "ready"]
    if not ready:
        if matches:
            raise InvalidState("This pickup code was already used: the parcel was handed over.")
        raise InvalidInput("This pickup code does not open any partner parcel waiting here.")
    for parcel in ready:
        parcel.status, parcel.handed_over_at, parcel.updated_at = "handed_over", now, now
        part = None
        if parcel.fee_minor > 0:
            link = session.get(FederationLink, parcel.link_id)
            assert link is not None
            parcel.settlement_entry_id = f"fed-pickup-{parcel.id}"
            settlement.record_entry(
                session, entry_id=parcel.settlement_entry_id, kind=PICKUP_FEE_KIND, debit=partner_account(link),
                credit=f"merchant:{parcel.merchant_id}", amount_minor=parcel.fee_minor, currency=parcel.currency,
                merchant_ids=[parcel.merchant_id], reference=parcel.order_reference, now=now)
            part = {"entry_id": parcel.settlement_entry_id, "kind": PICKUP_FEE_KIND,
                    "amount_minor": parcel.fee_minor, "currency": parcel.currency,
                    "reference": parcel.order_reference}
        _notify(session, parcel, "parcel.handed_over", now, settlement_part=part)
        _event(session, parcel, "federation.parcel_handed_over", now, fee_minor=parcel.fee_minor,
               currency=parcel.currency, settlement_entry_id=parcel.settlement_entry_id)
    return ready


# --- reads --------------------------------------------------------------------------------------

def get_parcel(session: Session, *, parcel_id: str, principal: Principal) -> FederatedParcel:
    parcel = session.get(FederatedParcel, parcel_id)
    if parcel is None or not principal.can_see_merchant(parcel.merchant_id):
        raise NotFound(f"No parcel {parcel_id!r}.")
    return parcel


def list_parcels(session: Session, *, principal: Principal, role: str | None, location_id: str | None,
                 status: str | None, limit: int = 200) -> list[FederatedParcel]:
    """Expected and waiting parcels for a pickup counter (host), or what we sent (sender)."""
    query = select(FederatedParcel).order_by(FederatedParcel.id.desc()).limit(limit)
    if not principal.is_network_admin:
        query = query.where(FederatedParcel.merchant_id == principal.merchant_id)
    if role:
        query = query.where(FederatedParcel.role == role)
    if location_id:
        query = query.where(FederatedParcel.location_id == location_id)
    elif principal.role is Role.STORE_STAFF and principal.location_id:
        query = query.where((FederatedParcel.location_id == principal.location_id)
                            | (FederatedParcel.role == "sender"))
    if status:
        query = query.where(FederatedParcel.status == status)
    return list(session.scalars(query))


def status_for_partner(session: Session, *, link: FederationLink, parcel_id: str, now: datetime) -> dict[str, Any]:
    """A partner asks where a parcel stands (it may have missed a message); answered through sharing."""
    parcel = session.scalar(select(FederatedParcel).where(FederatedParcel.link_id == link.id, (
        (FederatedParcel.id == parcel_id) | (FederatedParcel.remote_parcel_id == parcel_id))))
    if parcel is None:
        raise NotFound(f"No parcel {parcel_id!r} on this link.")
    return federation.project(session, link=link, purpose="fulfillment", payload_kind=protocol.PARCEL_STATUS.name,
                              payload={"parcel_id": parcel.id, "remote_parcel_id": parcel.remote_parcel_id,
                                       "order_reference": parcel.order_reference, "status": parcel.status,
                                       "parcel_count": parcel.parcel_count,
                                       "ready_at": parcel.ready_at.isoformat() if parcel.ready_at else None,
                                       "handed_over_at": parcel.handed_over_at.isoformat()
                                       if parcel.handed_over_at else None}, now=now)
