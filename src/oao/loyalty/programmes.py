"""Programmes (the network currency and merchants' own), their earning rules, and
where their points pay.

Network points pay at every merchant, and a merchant's own points at that
merchant. Another merchant takes them only under an accepted partner agreement
with points terms naming it as the acceptor, and at the value agreed there
(which may differ from the issuer's own value: the acceptor decides what it
gives for a partner's points, and the issuer pays it exactly that).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from oao.core.auth import Principal
from oao.core.errors import Conflict, InvalidInput, NotFound
from oao.core.ids import new_id
from oao.core.money import is_currency
from oao.loyalty import earning
from oao.loyalty.ledger import MAX_AMOUNT, PointValue
from oao.loyalty.models import NETWORK, EarningRule, Programme
from oao.network import service as network_service

MAX_MULTIPLIER = 100_000  # percent: x1000
MAX_EXPIRY_DAYS = 36_600


def _check_positive(name: str, value: int, top: int = MAX_AMOUNT) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise InvalidInput(f"{name} must be a whole number from 1 to {top}.")


def _check_tiers(tiers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = set()
    out = []
    for tier in tiers:
        name, threshold = tier.get("name"), tier.get("min_spend_minor")
        if not isinstance(name, str) or not 1 <= len(name) <= 40 or name in names:
            raise InvalidInput("Each tier has a unique name of 1 to 40 characters.")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= MAX_AMOUNT:
            raise InvalidInput(f"Tier {name!r} needs min_spend_minor from 0 to {MAX_AMOUNT}.")
        names.add(name)
        out.append({"name": name, "min_spend_minor": threshold})
    return sorted(out, key=lambda t: t["min_spend_minor"])


def network_programme(session: Session, *, currency: str = "CNY") -> Programme:
    """The network's own currency, created on first use (1 point = 1 minor unit of `currency`)."""
    found = session.scalar(select(Programme).where(Programme.owner_key == NETWORK))
    if found is not None:
        return found
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(Programme.__table__).values(
        id=new_id("lpg"), owner_key=NETWORK, merchant_id=None, name="Network points", currency=currency,
        value_minor=1, value_points=1, expiry_days=730, tiers=[], network_rate_num=None, network_rate_den=None,
        active=True).on_conflict_do_nothing())
    return session.scalars(select(Programme).where(Programme.owner_key == NETWORK)).one()


def get_programme(session: Session, *, programme_id: str) -> Programme:
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise NotFound(f"No loyalty programme {programme_id!r}.")
    return programme


def point_value(programme: Programme) -> PointValue:
    return PointValue(programme.value_minor, programme.value_points)


class PointsNotAccepted(InvalidInput):
    slug, title = "points-not-accepted", "These points are not accepted here"


def accepted_value(session: Session, *, programme: Programme, accepting_merchant_id: str,
                   at: datetime) -> PointValue | None:
    """What the programme's points pay at this merchant at `at`, or None where they do not pay.

    The network's points and a merchant's own points pay at their usual value;
    a partner's points at the value of the points terms in force at `at`.
    """
    if programme.merchant_id is None or programme.merchant_id == accepting_merchant_id:
        return point_value(programme)
    terms = network_service.points_terms(session, acceptor_merchant_id=accepting_merchant_id,
                                         issuer_programme_id=programme.id, at=at)
    return None if terms is None else PointValue(terms.value_minor, terms.value_points)


def require_accepted_value(session: Session, *, programme: Programme, accepting_merchant_id: str,
                           at: datetime) -> PointValue:
    """accepted_value, or a 422 naming both merchants when the points do not pay there."""
    value = accepted_value(session, programme=programme, accepting_merchant_id=accepting_merchant_id, at=at)
    if value is not None:
        return value
    acceptor = network_service.get_merchant(session, merchant_id=accepting_merchant_id)
    issuer = network_service.get_merchant(session, merchant_id=programme.merchant_id or "")
    raise PointsNotAccepted(
        f"{acceptor.name} does not accept {issuer.name} points: no points agreement. Pay with the network card, "
        f"or {issuer.name} and {acceptor.name} agree points terms first (a partner agreement with points naming "
        f"{acceptor.name} as the acceptor).", programme_id=programme.id, accepting_merchant_id=acceptor.id,
        issuer_merchant_id=issuer.id)


def merchant_programme(session: Session, *, merchant_id: str) -> Programme | None:
    return session.scalar(select(Programme).where(Programme.owner_key == merchant_id))


def create_programme(session: Session, *, principal: Principal, merchant_id: str | None, name: str, currency: str,
                     value_minor: int, value_points: int, expiry_days: int | None, tiers: list[dict[str, Any]],
                     now: datetime) -> Programme:
    """A merchant's own programme (one per merchant); merchant_id None configures the network's."""
    if merchant_id is None:
        principal.ensure_network_admin()
    else:
        principal.ensure_admin_of(merchant_id)
        network_service.get_merchant(session, merchant_id=merchant_id)
    if not 1 <= len(name.strip()) <= 120:
        raise InvalidInput("A programme name is 1 to 120 characters.")
    if not is_currency(currency):
        raise InvalidInput(f"Unknown currency {currency!r}.")
    _check_positive("value_minor", value_minor)
    _check_positive("value_points", value_points)
    if expiry_days is not None:
        _check_positive("expiry_days", expiry_days, MAX_EXPIRY_DAYS)
    checked_tiers = _check_tiers(tiers)
    if merchant_id is None:
        programme = network_programme(session, currency=currency)
        programme.name, programme.currency, programme.value_minor = name.strip(), currency, value_minor
        programme.value_points, programme.expiry_days, programme.tiers = value_points, expiry_days, checked_tiers
        session.flush()
        return programme
    if merchant_programme(session, merchant_id=merchant_id) is not None:
        raise Conflict(f"Merchant {merchant_id} already has a loyalty programme.")
    programme = Programme(id=new_id("lpg"), owner_key=merchant_id, merchant_id=merchant_id, name=name.strip(),
                          currency=currency, value_minor=value_minor, value_points=value_points,
                          expiry_days=expiry_days, tiers=checked_tiers, network_rate_num=None,
                          network_rate_den=None, active=True, created_at=now)
    session.add(programme)
    session.flush()
    return programme


def list_programmes(session: Session) -> list[Programme]:
    """Every programme: points are spendable network-wide, so their terms are public to the network."""
    return list(session.scalars(select(Programme).order_by(Programme.created_at, Programme.id)))


def publish_conversion_rate(session: Session, *, principal: Principal, programme_id: str, network_points: int,
                            per_points: int) -> Programme:
    """The operator publishes how many network points `per_points` of a merchant's points convert into."""
    principal.ensure_network_admin()
    programme = get_programme(session, programme_id=programme_id)
    if programme.merchant_id is None:
        raise InvalidInput("The network programme does not convert into itself.")
    _check_positive("network_points", network_points, 10**9)
    _check_positive("per_points", per_points, 10**9)
    programme.network_rate_num, programme.network_rate_den = network_points, per_points
    session.flush()
    return programme


def _check_multipliers(name: str, values: dict[str, int], allowed: tuple[str, ...] | None = None) -> dict[str, int]:
    if len(values) > 1000:
        raise InvalidInput(f"{name}: at most 1000 entries.")
    for key, pct in values.items():
        if not 1 <= len(key) <= 80 or (allowed is not None and key not in allowed):
            hint = f" (one of {', '.join(allowed)})." if allowed else "."
            raise InvalidInput(f"{name}: unknown key {key!r}{hint}")
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= MAX_MULTIPLIER:
            raise InvalidInput(f"{name}[{key!r}] is a whole percentage from 0 to {MAX_MULTIPLIER}.")
    return dict(values)


def create_rule(session: Session, *, principal: Principal, programme_id: str, merchant_id: str | None, name: str,
                points: int, per_minor: int, category_multipliers: dict[str, int] | None = None,
                product_multipliers: dict[str, int] | None = None,
                channel_multipliers: dict[str, int] | None = None, min_basket_minor: int = 0,
                cap_points: int | None = None, cap_period: str | None = None, now: datetime) -> EarningRule:
    """An earning rule: points per amount spent at `merchant_id` (None: any merchant, network programme only)."""
    programme = get_programme(session, programme_id=programme_id)
    if programme.merchant_id is None:
        # Network points earned at a merchant are funded by that merchant, so it may set its own rule.
        if merchant_id is None:
            principal.ensure_network_admin()
        else:
            principal.ensure_admin_of(merchant_id)
            network_service.get_merchant(session, merchant_id=merchant_id)
    else:
        principal.ensure_admin_of(programme.merchant_id)
        if merchant_id not in (None, programme.merchant_id):
            raise InvalidInput("A merchant's programme earns only at that merchant.")
        merchant_id = programme.merchant_id
    if not 1 <= len(name.strip()) <= 120:
        raise InvalidInput("A rule name is 1 to 120 characters.")
    _check_positive("points", points, 10**9)
    _check_positive("per_minor", per_minor, 10**12)
    if isinstance(min_basket_minor, bool) or not 0 <= min_basket_minor <= MAX_AMOUNT:
        raise InvalidInput(f"min_basket_minor is 0 to {MAX_AMOUNT}.")
    if (cap_points is None) != (cap_period is None):
        raise InvalidInput("A cap needs both cap_points and cap_period.")
    if cap_points is not None:
        if isinstance(cap_points, bool) or not 0 <= cap_points <= MAX_AMOUNT:
            raise InvalidInput(f"cap_points is 0 to {MAX_AMOUNT}.")
        if cap_period not in earning.CAP_PERIODS:
            raise InvalidInput(f"cap_period is one of {', '.join(earning.CAP_PERIODS)}.")
    channels = earning.DEFAULT_CHANNEL_MULTIPLIERS if channel_multipliers is None else channel_multipliers
    rule = EarningRule(id=new_id("ler"), programme_id=programme.id, merchant_id=merchant_id, name=name.strip(),
                       points=points, per_minor=per_minor,
                       category_multipliers=_check_multipliers("category_multipliers", category_multipliers or {}),
                       product_multipliers=_check_multipliers("product_multipliers", product_multipliers or {}),
                       channel_multipliers=_check_multipliers("channel_multipliers", channels, earning.CHANNELS),
                       min_basket_minor=min_basket_minor, cap_points=cap_points, cap_period=cap_period,
                       active=True, created_at=now)
    session.add(rule)
    session.flush()
    return rule


def list_rules(session: Session, *, principal: Principal, programme_id: str) -> list[EarningRule]:
    """A programme's rules: all for the network admin and the programme's merchant, else the caller's own."""
    programme = get_programme(session, programme_id=programme_id)
    query = select(EarningRule).where(EarningRule.programme_id == programme.id)
    if not principal.is_network_admin and principal.merchant_id != programme.merchant_id:
        query = query.where(EarningRule.merchant_id == principal.merchant_id)
    return list(session.scalars(query.order_by(EarningRule.created_at, EarningRule.id)))


def deactivate_rule(session: Session, *, principal: Principal, rule_id: str) -> EarningRule:
    """Stop a rule earning (rules are kept: past earnings refer to them)."""
    rule = session.get(EarningRule, rule_id)
    if rule is None:
        raise NotFound(f"No earning rule {rule_id!r}.")
    programme = get_programme(session, programme_id=rule.programme_id)
    owner = rule.merchant_id if programme.merchant_id is None else programme.merchant_id
    if owner is None:
        principal.ensure_network_admin()
    else:
        principal.ensure_merchant(owner, "earning rule", rule_id)
        principal.ensure_admin_of(owner)
    rule.active = False
    session.flush()
    return rule


def rules_for_merchant(session: Session, *, merchant_id: str) -> list[tuple[EarningRule, Programme]]:
    """Active rules that earn on a sale at this merchant, with their programmes."""
    rows = session.execute(select(EarningRule, Programme).join(Programme, Programme.id == EarningRule.programme_id)
                           .where(EarningRule.active.is_(True), Programme.active.is_(True),
                                  (EarningRule.merchant_id == merchant_id) | EarningRule.merchant_id.is_(None))
                           .order_by(EarningRule.id)).all()
    return [(rule, programme) for rule, programme in rows]
