"""HTTP API of coalition loyalty: programmes, earning rules, the ledger (read),
settlement entries, member balances for network admins, and points holds for
merchants' checkouts. Member-facing routes come with the members package."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.orm import Session

from oao.core.errors import Forbidden, InvalidInput
from oao.deps import PROBLEM_RESPONSES, Ctx, CtxDep, IdempotencyKey, idempotent
from oao.loyalty import service
from oao.loyalty.models import Hold
from oao.loyalty.schemas import (
    BalanceOut,
    ConversionRateIn,
    GrantIn,
    GrantOut,
    HoldIn,
    HoldOut,
    PostHoldIn,
    ProgrammeIn,
    ProgrammeOut,
    RuleIn,
    RuleOut,
    SettlementEntryOut,
    StatementLineOut,
    TransferOut,
)
from oao.members import service as members
from oao.members.api import MemberCtxDep

router = APIRouter(prefix="/loyalty", tags=["loyalty"], responses=PROBLEM_RESPONSES)
Id = Annotated[str, Path(min_length=1, max_length=40)]
MemberId = Annotated[str, Path(min_length=1, max_length=80)]
HoldId = Annotated[str, Path(min_length=1, max_length=80)]


# --- programmes and rules -------------------------------------------------------------------

@router.post("/programmes", response_model=ProgrammeOut, status_code=201)
def create_programme(body: ProgrammeIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Create your merchant's programme, or (network admins, merchant_id null) configure the network's."""
    merchant_id = body.merchant_id if ctx.principal.is_network_admin else (body.merchant_id or
                                                                           ctx.principal.merchant_id)
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: ProgrammeOut.model_validate(
        service.create_programme(s, principal=ctx.principal, merchant_id=merchant_id, name=body.name,
                                 currency=body.currency, value_minor=body.value_minor, value_points=body.value_points,
                                 expiry_days=body.expiry_days, tiers=[t.model_dump() for t in body.tiers],
                                 now=ctx.now())))


@router.get("/programmes", response_model=list[ProgrammeOut])
def list_programmes(ctx: CtxDep) -> list[ProgrammeOut]:
    """Every programme of the network (points are spendable network-wide, so their terms are shared)."""
    with ctx.read() as s:
        return [ProgrammeOut.model_validate(p) for p in service.list_programmes(s)]


@router.get("/programmes/{programme_id}", response_model=ProgrammeOut)
def get_programme(programme_id: Id, ctx: CtxDep) -> ProgrammeOut:
    with ctx.read() as s:
        return ProgrammeOut.model_validate(service.get_programme(s, programme_id=programme_id))


@router.post("/programmes/{programme_id}/conversion-rate", response_model=ProgrammeOut)
def publish_conversion_rate(programme_id: Id, body: ConversionRateIn, ctx: CtxDep, request: Request,
                            idempotency_key: IdempotencyKey = None):
    """Publish how many network points a merchant's points convert into (network admins)."""
    return idempotent(ctx, request, idempotency_key, body, 200, lambda s: ProgrammeOut.model_validate(
        service.publish_conversion_rate(s, principal=ctx.principal, programme_id=programme_id,
                                        network_points=body.network_points, per_points=body.per_points)))


@router.post("/programmes/{programme_id}/earning-rules", response_model=RuleOut, status_code=201)
def create_rule(programme_id: Id, body: RuleIn, ctx: CtxDep, request: Request,
                idempotency_key: IdempotencyKey = None):
    """Add an earning rule: points per amount, multipliers, minimum basket, cap per period."""
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: RuleOut.model_validate(
        service.create_rule(s, principal=ctx.principal, programme_id=programme_id, merchant_id=body.merchant_id,
                            name=body.name, points=body.points, per_minor=body.per_minor,
                            category_multipliers=body.category_multipliers,
                            product_multipliers=body.product_multipliers,
                            channel_multipliers=body.channel_multipliers, min_basket_minor=body.min_basket_minor,
                            cap_points=body.cap_points, cap_period=body.cap_period, now=ctx.now())))


@router.get("/programmes/{programme_id}/earning-rules", response_model=list[RuleOut])
def list_rules(programme_id: Id, ctx: CtxDep) -> list[RuleOut]:
    with ctx.read() as s:
        return [RuleOut.model_validate(r) for r in
                service.list_rules(s, principal=ctx.principal, programme_id=programme_id)]


@router.post("/earning-rules/{rule_id}/deactivate", response_model=RuleOut)
def deactivate_rule(rule_id: Id, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Stop a rule earning from now on."""
    return idempotent(ctx, request, idempotency_key, None, 200, lambda s: RuleOut.model_validate(
        service.deactivate_rule(s, principal=ctx.principal, rule_id=rule_id)))


# --- ledger and settlement ------------------------------------------------------------------

@router.get("/transfers", response_model=list[TransferOut])
def list_transfers(ctx: CtxDep,
                   programme_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
                   account_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
                   member_id: Annotated[str | None, Query(min_length=1, max_length=80)] = None,
                   after: Annotated[str | None, Query(min_length=1, max_length=40,
                                                      description="a transfer's seq: older ones")] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[TransferOut]:
    """Ledger transfers, newest first (network admins: all; merchants: their programme's and accounts')."""
    if member_id is not None and not ctx.principal.is_network_admin:
        raise Forbidden("Only a network admin may look a member up by id.")
    with ctx.read() as s:
        return [TransferOut.model_validate(t) for t in service.list_transfers(
            s, principal=ctx.principal, programme_id=programme_id, account_id=account_id, member_id=member_id,
            limit=limit, after=after)]


@router.get("/settlement-entries", response_model=list[SettlementEntryOut])
def list_settlement_entries(ctx: CtxDep,
                            merchant_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
                            limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[SettlementEntryOut]:
    """What a merchant owes other merchants for points they accepted, and is owed (append-only)."""
    with ctx.read() as s:
        return [SettlementEntryOut.model_validate(e) for e in service.list_settlement_entries(
            s, principal=ctx.principal, merchant_id=merchant_id, limit=limit)]


# --- members (network admins) ---------------------------------------------------------------

def _admin(ctx: Ctx) -> None:
    ctx.principal.ensure_network_admin()


@router.get("/members/{member_id}/balances", response_model=list[BalanceOut])
def member_balances(member_id: MemberId, ctx: CtxDep) -> list[BalanceOut]:
    """A member's points in every programme, with tier and next expiry (network admins)."""
    _admin(ctx)
    with ctx.read() as s:
        return [BalanceOut.model_validate(b) for b in service.balances(s, member_id=member_id, now=ctx.now())]


@router.get("/members/{member_id}/statement", response_model=list[StatementLineOut])
def member_statement(member_id: MemberId, ctx: CtxDep,
                     programme_id: Annotated[str, Query(min_length=1, max_length=40)],
                     limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[StatementLineOut]:
    """A member's transfers in one programme with the balance after each (network admins)."""
    _admin(ctx)
    with ctx.read() as s:
        return [StatementLineOut.model_validate(line) for line in
                service.statement(s, member_id=member_id, programme_id=programme_id, limit=limit)]


@router.post("/members/{member_id}/grants", response_model=GrantOut, status_code=201)
def grant_points(member_id: MemberId, body: GrantIn, ctx: CtxDep, request: Request,
                 idempotency_key: IdempotencyKey = None):
    """Credit points (goodwill or a correction) from the programme owner's issuance account."""
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: GrantOut(transfer_id=service.grant_points(
        s, principal=ctx.principal, grant_id=body.grant_id, member_id=member_id, programme_id=body.programme_id,
        points=body.points, reason=body.reason, now=ctx.now())))


# --- holds (points as a tender) ---------------------------------------------------------------

def _hold_out(s: Session, hold: Hold) -> HoldOut:
    out = HoldOut.model_validate(hold)
    out.member_ref = members.member_ref_for(s, merchant_id=hold.accepting_merchant_id, member_id=hold.member_id)
    out.value_minor = service.hold_value_minor(s, hold_id=hold.id)
    return out


def _own_hold(ctx: Ctx, s: Session, hold_id: str) -> Hold:
    hold = service.get_hold(s, hold_id=hold_id)
    ctx.principal.ensure_merchant(hold.accepting_merchant_id, "points hold", hold_id)
    return hold


@router.post("/holds", response_model=HoldOut, status_code=201)
def hold_points(body: HoldIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Hold a member's points as a tender at your checkout; post or void it when the sale ends."""
    merchant_id = body.merchant_id or ctx.principal.merchant_id
    if merchant_id is None:
        raise InvalidInput("Name the accepting merchant_id.")
    ctx.principal.ensure_merchant(merchant_id, "merchant", merchant_id)

    def action(s: Session) -> HoldOut:
        if body.member_ref is not None:
            member_id = members.resolve_member_ref(s, merchant_id=merchant_id, member_ref=body.member_ref)
            if member_id is None:
                raise InvalidInput(f"Member reference {body.member_ref!r} is not one this merchant was given; "
                                   "scan the member's code again.")
        elif body.member_id is not None and ctx.principal.is_network_admin:
            member_id = body.member_id
        else:
            raise InvalidInput("Name the member by member_ref (member_id is for network admins).")
        hold = service.hold_points(s, hold_id=body.hold_id, member_id=member_id, programme_id=body.programme_id,
                                   points=body.points, accepting_merchant_id=merchant_id, now=ctx.now(),
                                   ttl=timedelta(seconds=body.ttl_seconds), sale_ref=body.sale_ref)
        return _hold_out(s, hold)

    return idempotent(ctx, request, idempotency_key, body, 201, action)


@router.get("/holds/{hold_id}", response_model=HoldOut)
def get_hold(hold_id: HoldId, ctx: CtxDep) -> HoldOut:
    with ctx.read() as s:
        return _hold_out(s, _own_hold(ctx, s, hold_id))


@router.post("/holds/{hold_id}/post", response_model=HoldOut)
def post_hold(hold_id: HoldId, body: PostHoldIn, ctx: CtxDep, request: Request,
              idempotency_key: IdempotencyKey = None):
    """Spend the held points (all or fewer) once; a retry answers the same."""
    def action(s: Session) -> HoldOut:
        _own_hold(ctx, s, hold_id)
        return _hold_out(s, service.post_hold(s, hold_id=hold_id, points=body.points, sale_ref=body.sale_ref,
                                              now=ctx.now()))

    return idempotent(ctx, request, idempotency_key, body, 200, action)


@router.post("/holds/{hold_id}/void", response_model=HoldOut)
def void_hold(hold_id: HoldId, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Give the held points back (the sale failed) once; a retry answers the same."""
    def action(s: Session) -> HoldOut:
        _own_hold(ctx, s, hold_id)
        return _hold_out(s, service.void_hold(s, hold_id=hold_id, now=ctx.now()))

    return idempotent(ctx, request, idempotency_key, None, 200, action)


# --- the member's own points ---------------------------------------------------------------------

@router.get("/me/points", response_model=list[BalanceOut])
def my_points(mctx: MemberCtxDep) -> list[BalanceOut]:
    """The logged-in member's points in every programme, with value and tier."""
    with mctx.db.read() as s:
        return [BalanceOut.model_validate(b) for b in service.balances(s, member_id=mctx.member_id,
                                                                        now=mctx.clock.now())]


@router.get("/me/points/{programme_id}/statement", response_model=list[StatementLineOut])
def my_statement(programme_id: Annotated[str, Path(min_length=1, max_length=40)], mctx: MemberCtxDep,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[StatementLineOut]:
    """The logged-in member's statement in one programme: every earn, spend, expiry with the balance after."""
    with mctx.db.read() as s:
        return [StatementLineOut.model_validate(line)
                for line in service.statement(s, member_id=mctx.member_id, programme_id=programme_id, limit=limit)]
