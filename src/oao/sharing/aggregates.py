"""Aggregated sharing (S3): counts over the owner's sales to members, by brand,
category, age band or gender, for a partner the owner's policy permits
`aggregated_stats` for that purpose. Only groups of at least k distinct members
leave, through the one outbound projection (payload kind "aggregated_stats").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from oao.catalog.models import Product
from oao.core.errors import Forbidden, InvalidInput
from oao.core.geo import haversine_km
from oao.fulfillment.models import Fulfillment
from oao.members import service as members
from oao.members.models import Member, MemberConsent
from oao.network.models import Location
from oao.orders.models import Order, OrderLine
from oao.pos.models import PosSale, PosSaleLine
from oao.sharing import service
from oao.sharing.grouping import CONSENT_FOR, FILTERS, GROUP_BY, SaleFact, group_counts
from oao.sharing.policy import DEFAULT_MIN_GROUP_SIZE, effective_min_group_size

DEFAULT_WINDOW_DAYS = 365  # sales older than this are not counted unless `since` says otherwise
GENDERS = ("female", "male", "other", "undisclosed")


def _check(group_by: list[str], filters: dict[str, Any]) -> dict[str, Any]:
    errors = []
    if not group_by or len(set(group_by)) != len(group_by) or any(g not in GROUP_BY for g in group_by):
        errors.append({"loc": ["group_by"], "msg": f"group by one or more of {', '.join(GROUP_BY)}, each once"})
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        errors.append({"loc": ["filters", *unknown], "msg": f"unknown filters; known: {', '.join(FILTERS)}"})
    if filters.get("gender") is not None and filters["gender"] not in GENDERS:
        errors.append({"loc": ["filters", "gender"], "msg": f"gender is one of {', '.join(GENDERS)}"})
    near = [filters.get(n) for n in ("near_lat", "near_lon", "radius_km")]
    if any(v is not None for v in near) and not all(v is not None for v in near):
        errors.append({"loc": ["filters", "near_lat"], "msg": "near_lat, near_lon and radius_km go together"})
    since = filters.get("since")
    if since is not None and (not isinstance(since, datetime) or since.tzinfo is None):
        errors.append({"loc": ["filters", "since"], "msg": "since is a time with a timezone"})
    if errors:
        raise InvalidInput("Invalid aggregate request.", errors=errors)
    return {k: v for k, v in filters.items() if v is not None}


def _consented(session: Session, *, owner_merchant_id: str, member_ids: set[str], now: datetime) -> dict[str, set[str]]:
    """Each member's current consents to the owner (members.consents data classes)."""
    out: dict[str, set[str]] = {m: set() for m in member_ids}
    if not member_ids:
        return out
    rows = session.execute(select(MemberConsent.member_id, MemberConsent.data_class).where(
        MemberConsent.merchant_id == owner_merchant_id, MemberConsent.member_id.in_(member_ids),
        MemberConsent.withdrawn_at.is_(None),
        or_(MemberConsent.expires_at.is_(None), MemberConsent.expires_at > now)))
    for member_id, data_class in rows:
        out[member_id].add(data_class)
    return out


def _sale_lines(session: Session, *, owner_merchant_id: str, since: datetime) -> list[tuple[str, str, int, str | None]]:
    """(member id, product id, quantity, location id) of the owner's completed orders and till sales to members."""
    out: list[tuple[str, str, int, str | None]] = []
    orders = session.execute(
        select(Order.id, Order.member_id, OrderLine.product_id, OrderLine.quantity)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.merchant_id == owner_merchant_id, Order.status == "completed", Order.member_id.is_not(None),
               Order.created_at >= since)).all()
    source = dict(session.execute(select(Fulfillment.order_id, Fulfillment.source_location_id).where(
        Fulfillment.order_id.in_({o for o, *_ in orders}))).all()) if orders else {}
    out += [(member_id, product_id, qty, source.get(order_id)) for order_id, member_id, product_id, qty in orders]
    sales = session.execute(
        select(PosSale.member_ref, PosSale.location_id, PosSaleLine.product_id, PosSaleLine.quantity)
        .join(PosSaleLine, PosSaleLine.sale_id == PosSale.id)
        .where(PosSale.merchant_id == owner_merchant_id, PosSale.member_ref.is_not(None),
               PosSale.sold_at >= since)).all()
    refs: dict[str, str | None] = {}
    for ref, location_id, product_id, qty in sales:
        if ref not in refs:
            refs[ref] = members.resolve_member_ref(session, merchant_id=owner_merchant_id, member_ref=ref)
        if refs[ref] is not None:
            out.append((refs[ref], product_id, qty, location_id))  # type: ignore[arg-type]
    return out


def aggregate_for_partner(session: Session, *, owner_merchant_id: str, recipient_merchant_id: str, purpose: str,
                          group_by: list[str], filters: dict[str, Any], now: datetime,
                          min_group_size_floor: int = DEFAULT_MIN_GROUP_SIZE) -> dict[str, Any]:
    """Counts of distinct members (and units) per group of the owner's member sales, groups below k
    suppressed, as the owner's policy lets them leave to that partner; records the disclosure.

    403 when the owner's policy does not permit aggregated_stats to that partner for that purpose.
    """
    service.check_purpose(purpose)
    filters = _check(group_by, filters)
    policy, _ = service.effective_policy(session, owner_merchant_id=owner_merchant_id,
                                         recipient_kind="partner_merchant", recipient_id=recipient_merchant_id)
    if not policy.allows("aggregated_stats", purpose):
        raise Forbidden(f"Merchant {owner_merchant_id} does not share aggregated statistics with you for "
                        f"{purpose!r}; an accepted agreement permitting aggregated_stats is needed.")
    k = effective_min_group_size(policy, min_group_size_floor)
    since = filters.get("since") or now - timedelta(days=DEFAULT_WINDOW_DAYS)
    lines = _sale_lines(session, owner_merchant_id=owner_merchant_id, since=since)
    member_ids = {m for m, *_ in lines}
    consents = _consented(session, owner_merchant_id=owner_merchant_id, member_ids=member_ids, now=now)
    needed = {CONSENT_FOR[d] for d in (*group_by, *filters) if d in CONSENT_FOR}
    profiles = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(member_ids)))} if member_ids else {}
    products = {p.id: p for p in session.scalars(select(Product).where(
        Product.id.in_({p for _, p, *_ in lines})))} if lines else {}
    near_ids: set[str] | None = None
    if "near_lat" in filters:
        near_ids = {loc.id for loc in session.scalars(select(Location).where(
            Location.merchant_id == owner_merchant_id))
            if haversine_km(filters["near_lat"], filters["near_lon"], loc.latitude, loc.longitude)
            <= filters["radius_km"]}
    facts = []
    for member_id, product_id, qty, location_id in lines:
        granted = consents.get(member_id, set())
        if not needed <= granted:
            continue  # a member who did not consent to a dimension used is not counted at all
        member, product = profiles.get(member_id), products.get(product_id)
        if member is None or product is None:
            continue
        fact = SaleFact(member_id=member_id, brand=product.brand, category=product.category, quantity=qty,
                        location_id=location_id,
                        birth_year=member.birth_year if "profile.age_band" in granted else None,
                        gender=member.gender if "profile.gender" in granted else None)
        if _matches(fact, filters, near_ids, now):
            facts.append(fact)
    groups, suppressed = group_counts(facts, group_by=group_by, k=k, now=now)
    stats = {"purpose": purpose, "group_by": group_by,
             "filters": {k_: (v.isoformat() if isinstance(v, datetime) else v) for k_, v in filters.items()},
             "min_group_size": k, "groups": groups, "suppressed_groups": suppressed}
    return service.project_outbound(session, owner_merchant_id=owner_merchant_id, recipient_kind="partner_merchant",
                                    recipient_id=recipient_merchant_id, purpose=purpose,
                                    payload_kind="aggregated_stats", payload=stats, now=now)


def _matches(fact: SaleFact, filters: dict[str, Any], near_ids: set[str] | None, now: datetime) -> bool:
    if "gender" in filters and fact.gender != filters["gender"]:
        return False
    age = None if fact.birth_year is None else now.year - fact.birth_year
    if "age_min" in filters and (age is None or age < filters["age_min"]):
        return False
    if "age_max" in filters and (age is None or age > filters["age_max"]):
        return False
    if "brand" in filters and fact.brand != filters["brand"]:
        return False
    if "category" in filters and fact.category != filters["category"]:
        return False
    if "location_id" in filters and fact.location_id != filters["location_id"]:
        return False
    return near_ids is None or fact.location_id in near_ids
