"""HTTP API of the network: merchants, locations, sessions, API keys, staff, agreements.

Who may do what: a network admin does anything; a merchant admin manages its
own merchant; store staff read their merchant's data. Another merchant's
resource answers 404 so its existence never leaks; a write aimed at another
merchant by id in the body answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from oao.core.auth import Principal, Role
from oao.core.errors import InvalidInput, NotFound
from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, app_state, idempotent
from oao.network import service
from oao.network.models import PartnerAgreement, PartnerAgreementVersion
from oao.network.schemas import (
    AgreementIn,
    AgreementOut,
    AgreementVersionOut,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    DecisionIn,
    LocationIn,
    LocationKind,
    LocationOut,
    LocationPatch,
    MeOut,
    MerchantIn,
    MerchantOut,
    SessionIn,
    SessionOut,
    StaffUserIn,
    StaffUserOut,
    VersionIn,
)

router = APIRouter(tags=["network"])

PROBLEMS = PROBLEM_RESPONSES


def _scope(principal: Principal) -> str | None:
    """The merchant a principal's lists are limited to (None: the whole network)."""
    return None if principal.is_network_admin else principal.merchant_id


def _target_merchant(principal: Principal, requested: str | None) -> str:
    """The merchant a write is for: the one asked for, else the caller's own; callers must admin it."""
    merchant_id = requested or principal.merchant_id
    if merchant_id is None:
        raise InvalidInput("Give merchant_id: a network admin acts for no merchant by default.")
    principal.ensure_admin_of(merchant_id)
    return merchant_id


def _me(principal: Principal) -> MeOut:
    return MeOut(kind=principal.kind, id=principal.id, name=principal.name, role=principal.role.value,
                 merchant_id=principal.merchant_id, location_id=principal.location_id)


# --- merchants ------------------------------------------------------------------------

@router.post("/merchants", response_model=MerchantOut, status_code=201, responses=PROBLEMS)
def create_merchant(body: MerchantIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Onboard a merchant (network admins only)."""
    ctx.principal.ensure_network_admin()
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: MerchantOut.model_validate(
        service.create_merchant(s, name=body.name, slug=body.slug, currency=body.currency, now=ctx.now())))


@router.get("/merchants", response_model=list[MerchantOut], responses=PROBLEMS)
def list_merchants(ctx: CtxDep) -> list[MerchantOut]:
    """Every merchant for a network admin; your own merchant otherwise."""
    principal = ctx.principal
    if not principal.is_network_admin and principal.merchant_id is None:
        return []
    with ctx.read() as s:
        return [MerchantOut.model_validate(m) for m in service.list_merchants(s, merchant_id=_scope(principal))]


@router.get("/merchants/{merchant_id}", response_model=MerchantOut, responses=PROBLEMS)
def get_merchant(merchant_id: str, ctx: CtxDep) -> MerchantOut:
    ctx.principal.ensure_merchant(merchant_id, "merchant", merchant_id)
    with ctx.read() as s:
        return MerchantOut.model_validate(service.get_merchant(s, merchant_id=merchant_id))


# --- locations ------------------------------------------------------------------------

@router.post("/locations", response_model=LocationOut, status_code=201, responses=PROBLEMS)
def create_location(body: LocationIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Add a store, warehouse, pickup point or dark store to a merchant you administer."""
    merchant_id = _target_merchant(ctx.principal, body.merchant_id)
    fields = body.model_dump(exclude={"merchant_id"})
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: LocationOut.model_validate(
        service.create_location(s, merchant_id=merchant_id, now=ctx.now(), **fields)))


@router.get("/locations", response_model=list[LocationOut], responses=PROBLEMS)
def list_locations(ctx: CtxDep, merchant_id: str | None = None,
                   kind: Annotated[list[LocationKind] | None, Query()] = None,
                   include_inactive: bool = True) -> list[LocationOut]:
    """Your merchant's locations (a network admin sees all, or one merchant's with ?merchant_id=)."""
    principal = ctx.principal
    if merchant_id is not None:
        principal.ensure_merchant(merchant_id, "merchant", merchant_id)
    scope = merchant_id or _scope(principal)
    if scope is None and not principal.is_network_admin:
        return []
    with ctx.read() as s:
        found = service.list_locations(s, merchant_id=scope, kinds=list(kind) if kind else None,
                                       include_inactive=include_inactive)
        return [LocationOut.model_validate(loc) for loc in found]


@router.get("/locations/{location_id}", response_model=LocationOut, responses=PROBLEMS)
def get_location(location_id: str, ctx: CtxDep) -> LocationOut:
    with ctx.read() as s:
        location = service.get_location(s, location_id=location_id)
        ctx.principal.ensure_merchant(location.merchant_id, "location", location_id)
        return LocationOut.model_validate(location)


@router.patch("/locations/{location_id}", response_model=LocationOut, responses=PROBLEMS)
def update_location(location_id: str, body: LocationPatch, ctx: CtxDep) -> LocationOut:
    """Change only the fields sent (hours, capabilities, `active: false` to close it for good)."""
    changes = body.changes()
    if not changes:
        raise InvalidInput("Send at least one field to change.")
    with ctx.tx() as s:
        location = service.get_location(s, location_id=location_id)
        ctx.principal.ensure_merchant(location.merchant_id, "location", location_id)
        ctx.principal.ensure_admin_of(location.merchant_id)
        return LocationOut.model_validate(
            service.update_location(s, location_id=location_id, changes=changes, now=ctx.now()))


# --- sessions -----------------------------------------------------------------------------

@router.post("/sessions", response_model=SessionOut, status_code=201, responses=PROBLEMS)
def log_in(body: SessionIn, request: Request) -> SessionOut:
    """Staff login: email and password give a bearer token valid for 12 hours."""
    db, clock, _settings = app_state(request)
    with db.unit_of_work() as s:
        token, user, expires = service.log_in(s, email=body.email, password=body.password, now=clock.now())
        return SessionOut(token=token, expires_at=expires, me=_me(service.staff_principal(user)))


@router.get("/me", response_model=MeOut, responses=PROBLEMS)
def who_am_i(ctx: CtxDep) -> MeOut:
    """The principal behind the bearer token."""
    return _me(ctx.principal)


# --- API keys -------------------------------------------------------------------------------

@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, responses=PROBLEMS)
def create_api_key(body: ApiKeyIn, ctx: CtxDep) -> ApiKeyCreated:
    """Issue an API key; the secret is in this response only.

    Deliberately not idempotent: a replayed response would have to keep the
    secret in the idempotency table. A retried request makes a second key,
    which the caller can revoke.
    """
    principal = ctx.principal
    role = Role(body.role) if body.role else None
    if role is Role.NETWORK_ADMIN or (body.merchant_id is None and principal.is_network_admin):
        principal.ensure_network_admin()
        merchant_id = body.merchant_id
    else:
        merchant_id = _target_merchant(principal, body.merchant_id)
    role = role or (Role.MERCHANT_ADMIN if merchant_id else Role.NETWORK_ADMIN)
    with ctx.tx() as s:
        token, key = service.issue_api_key(s, merchant_id=merchant_id, name=body.name, role=role, now=ctx.now())
        return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), token=token)


@router.get("/api-keys", response_model=list[ApiKeyOut], responses=PROBLEMS)
def list_api_keys(ctx: CtxDep) -> list[ApiKeyOut]:
    """Keys of the merchants you administer (never their secrets)."""
    principal = ctx.principal
    if not principal.is_network_admin:
        principal.ensure_admin_of(principal.merchant_id)
    with ctx.read() as s:
        return [ApiKeyOut.model_validate(k) for k in service.list_api_keys(s, merchant_id=_scope(principal))]


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyOut, responses=PROBLEMS)
def revoke_api_key(key_id: str, ctx: CtxDep) -> ApiKeyOut:
    """Stop a key working at once; revoking a revoked key changes nothing."""
    with ctx.tx() as s:
        key = service.get_api_key(s, key_id=key_id)
        ctx.principal.ensure_merchant(key.merchant_id, "API key", key_id)
        ctx.principal.ensure_admin_of(key.merchant_id)
        return ApiKeyOut.model_validate(service.revoke_api_key(s, key_id=key_id, now=ctx.now()))


# --- staff users ----------------------------------------------------------------------------

@router.post("/staff-users", response_model=StaffUserOut, status_code=201, responses=PROBLEMS)
def create_staff_user(body: StaffUserIn, ctx: CtxDep, request: Request,
                      idempotency_key: IdempotencyKey = None):
    """Add a person who logs in with email and password (POST /sessions)."""
    principal = ctx.principal
    role = Role(body.role)
    if role is Role.NETWORK_ADMIN:
        principal.ensure_network_admin()
        merchant_id = body.merchant_id
    else:
        merchant_id = _target_merchant(principal, body.merchant_id)
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: StaffUserOut.model_validate(
        service.add_staff_user(s, email=body.email, name=body.name, password=body.password, role=role,
                               merchant_id=merchant_id, location_id=body.location_id, now=ctx.now())))


@router.get("/staff-users", response_model=list[StaffUserOut], responses=PROBLEMS)
def list_staff_users(ctx: CtxDep) -> list[StaffUserOut]:
    principal = ctx.principal
    if not principal.is_network_admin:
        principal.ensure_admin_of(principal.merchant_id)
    with ctx.read() as s:
        return [StaffUserOut.model_validate(u) for u in service.list_staff_users(s, merchant_id=_scope(principal))]


# --- partner agreements ---------------------------------------------------------------------
# A merchant admin acts for its own merchant; a network admin acts as the
# network operator (on behalf of whichever party the step needs).

def _ensure_party(principal: Principal, agreement: PartnerAgreement) -> None:
    """Only the two merchants of an agreement (and network admins) know it exists."""
    if not (principal.can_see_merchant(agreement.proposer_merchant_id)
            or principal.can_see_merchant(agreement.counterparty_merchant_id)):
        raise NotFound(f"No partner agreement {agreement.id!r}.")


def _acting_party(principal: Principal, agreement: PartnerAgreement) -> str | None:
    """The party a caller acts for (None: the network operator); store staff only read."""
    _ensure_party(principal, agreement)
    if principal.is_network_admin:
        return None
    principal.ensure_admin_of(principal.merchant_id)
    return principal.merchant_id


def _agreement_out(agreement: PartnerAgreement, versions: list[PartnerAgreementVersion]) -> AgreementOut:
    by_number = {v.version: v for v in versions}
    current = by_number.get(agreement.current_version) if agreement.current_version else None
    latest = by_number.get(agreement.latest_version)
    pending = latest if latest is not None and latest.status == "proposed" else None
    shown = current or pending
    pickup = (shown.terms.get("pickup") if shown is not None else None) or {}
    host = pickup.get("host_merchant_id")
    guest = None if host is None else (agreement.counterparty_merchant_id
                                       if host == agreement.proposer_merchant_id else agreement.proposer_merchant_id)
    return AgreementOut(
        id=agreement.id, proposer_merchant_id=agreement.proposer_merchant_id,
        counterparty_merchant_id=agreement.counterparty_merchant_id, status=agreement.status,
        current_version=agreement.current_version, terms=current.terms if current else None,
        pending_version=pending.version if pending else None,
        versions=[AgreementVersionOut.model_validate(v) for v in versions], created_at=agreement.created_at,
        accepted_at=agreement.accepted_at, ended_at=agreement.ended_at,
        ended_by_merchant_id=agreement.ended_by_merchant_id, host_merchant_id=host, guest_merchant_id=guest,
        pickup_fee_minor=pickup.get("fee_minor"))


def _out(s, agreement: PartnerAgreement) -> AgreementOut:
    return _agreement_out(agreement, service.agreement_versions(s, agreement_ids=[agreement.id])[agreement.id])


@router.post("/partner-agreements", response_model=AgreementOut, status_code=201, responses=PROBLEMS)
def propose_agreement(body: AgreementIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Propose an agreement to another merchant; its terms apply once that merchant accepts.

    Proposing the same terms again while they wait returns the same agreement.
    The pickup-only shape (`guest_merchant_id`, `pickup_fee_minor`) proposes
    pickup at the host's locations; sent by a network admin it is accepted at once.
    """
    principal = ctx.principal
    if body.guest_merchant_id is not None:
        host = _target_merchant(principal, body.host_merchant_id)
        guest, fee = body.guest_merchant_id, body.pickup_fee_minor or 0

        def create(s):
            return _out(s, service.create_pickup_agreement(s, host_merchant_id=host, guest_merchant_id=guest,
                                                           pickup_fee_minor=fee, now=ctx.now(),
                                                           accept=principal.is_network_admin))
    else:
        proposer = _target_merchant(principal, body.proposer_merchant_id)
        counterparty, terms = body.counterparty_merchant_id, body.terms_document()
        assert counterparty is not None

        def create(s):
            return _out(s, service.propose_agreement(s, proposer_merchant_id=proposer,
                                                     counterparty_merchant_id=counterparty, terms=terms,
                                                     now=ctx.now()))

    return idempotent(ctx, request, idempotency_key, body, 201, create)


@router.get("/partner-agreements", response_model=list[AgreementOut], responses=PROBLEMS)
def list_agreements(ctx: CtxDep) -> list[AgreementOut]:
    """Agreements your merchant is party to, with their versions (a network admin sees all)."""
    principal = ctx.principal
    if not principal.is_network_admin and principal.merchant_id is None:
        return []
    with ctx.read() as s:
        found = service.list_agreements(s, merchant_id=_scope(principal))
        versions = service.agreement_versions(s, agreement_ids=[a.id for a in found])
        return [_agreement_out(a, versions[a.id]) for a in found]


@router.get("/partner-agreements/{agreement_id}", response_model=AgreementOut, responses=PROBLEMS)
def get_agreement(agreement_id: str, ctx: CtxDep) -> AgreementOut:
    with ctx.read() as s:
        agreement = service.get_agreement(s, agreement_id=agreement_id)
        _ensure_party(ctx.principal, agreement)
        return _out(s, agreement)


@router.post("/partner-agreements/{agreement_id}/versions", response_model=AgreementOut, status_code=201,
             responses=PROBLEMS)
def propose_version(agreement_id: str, body: VersionIn, ctx: CtxDep, request: Request,
                    idempotency_key: IdempotencyKey = None):
    """Either party proposes new terms (superseding a proposal still waiting); the current
    terms stay in force until the other party accepts."""
    principal = ctx.principal
    terms = body.terms.model_dump(mode="json")

    def propose(s):
        agreement = service.get_agreement(s, agreement_id=agreement_id)
        acting = _acting_party(principal, agreement) or body.proposer_merchant_id
        if acting is None:
            raise InvalidInput("Give proposer_merchant_id: a network admin proposes for one of the parties.")
        if body.proposer_merchant_id not in (None, acting):
            principal.ensure_admin_of(body.proposer_merchant_id)
        service.propose_version(s, agreement_id=agreement_id, proposer_merchant_id=acting, terms=terms,
                                now=ctx.now())
        return _out(s, agreement)

    return idempotent(ctx, request, idempotency_key, body, 201, propose)


def _decide(ctx, request: Request, idempotency_key: str | None, agreement_id: str, body: BaseModel | None,
            step: Callable[..., PartnerAgreement], **kwargs) -> JSONResponse:
    def run(s):
        acting = _acting_party(ctx.principal, service.get_agreement(s, agreement_id=agreement_id))
        return _out(s, step(s, agreement_id=agreement_id, acting=acting, now=ctx.now(), **kwargs))

    return idempotent(ctx, request, idempotency_key, body, 200, run)


@router.post("/partner-agreements/{agreement_id}/accept", response_model=AgreementOut, responses=PROBLEMS)
def accept_agreement(agreement_id: str, body: DecisionIn, ctx: CtxDep, request: Request,
                     idempotency_key: IdempotencyKey = None):
    """The other party accepts the waiting version; its terms apply from now (a proposer
    cannot accept its own proposal)."""
    return _decide(ctx, request, idempotency_key, agreement_id, body, lambda s, acting, **kw: service.accept_version(
        s, accepting_merchant_id=acting, **kw), version=body.version)


@router.post("/partner-agreements/{agreement_id}/decline", response_model=AgreementOut, responses=PROBLEMS)
def decline_agreement(agreement_id: str, body: DecisionIn, ctx: CtxDep, request: Request,
                      idempotency_key: IdempotencyKey = None):
    """The other party refuses the waiting version: a first proposal closes the agreement
    (`declined`); refused new terms leave the current ones in force."""
    return _decide(ctx, request, idempotency_key, agreement_id, body, lambda s, acting, **kw: service.decline_version(
        s, declining_merchant_id=acting, **kw), version=body.version)


@router.post("/partner-agreements/{agreement_id}/withdraw", response_model=AgreementOut, responses=PROBLEMS)
def withdraw_agreement(agreement_id: str, body: DecisionIn, ctx: CtxDep, request: Request,
                       idempotency_key: IdempotencyKey = None):
    """The proposer takes back its waiting version (a first proposal: the agreement is `withdrawn`)."""
    return _decide(ctx, request, idempotency_key, agreement_id, body, lambda s, acting, **kw: service.withdraw_version(
        s, withdrawing_merchant_id=acting, **kw), version=body.version)


@router.post("/partner-agreements/{agreement_id}/end", response_model=AgreementOut, responses=PROBLEMS)
def end_agreement(agreement_id: str, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Either party's admin may end an active agreement: new orders no longer get its terms
    (no partner pickup there), orders placed before keep them."""
    return _decide(ctx, request, idempotency_key, agreement_id, None, lambda s, acting, **kw: service.end_agreement(
        s, ended_by_merchant_id=acting, **kw))
