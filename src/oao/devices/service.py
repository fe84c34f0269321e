"""Use cases of the devices domain (S9): a member's machines report levels and reorder within her rules.

A device authenticates with its own credential (`oao_dv_…`, only its SHA-256 kept, like API keys).
Each report is claimed by its device event id before anything is decided: a resend, even a
concurrent one, waits on the unique index and then answers the first outcome, so one low reading
never orders twice. The rule row is locked while deciding, so two different low readings arriving
together see each other's order ("order already open").

A reorder goes through the normal order path: a quote for the rule's preferred way to receive it
(fulfillment.build_quote, restricted to the device's shop), orders.service.place_order, and a
payment that needs nobody at hand: pay at pickup / on delivery, or the member's points when they
cover the whole total. A wallet QR is never used (somebody would have to scan it). Every outcome is
kept with the event (the member area shows them); a reorder placed or refused (cap, open order, out
of stock, no points, rule off...) is also recorded in the outbox (`device.reorder_placed` /
`device.reorder_skipped`) so webhooks deliver it. A reading that was no reason to reorder (still above
the threshold) is not announced to the shop.

Spend caps count the orders all of the member's devices placed in the current calendar month in UTC
(cancelled orders do not count); the order's total (goods and fee) is what counts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.config import Settings
from oao.core.auth import Principal, Role, new_token, token_hash
from oao.core.errors import Conflict, Gone, InsufficientStock, InvalidInput, InvalidState, NotFound, Unauthorized
from oao.core.geo import valid_coordinates
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.devices import rules
from oao.devices.models import DEVICE_KINDS, FULFILLMENT_KINDS, PAYMENT_CHOICES, UNITS, Device, DeviceEvent, ReorderRule
from oao.fulfillment import service as fulfillment
from oao.fulfillment.service import ItemIn
from oao.inventory import service as inventory
from oao.loyalty import service as loyalty
from oao.members import service as members
from oao.network import service as network
from oao.orders import service as orders
from oao.orders.points import NotEnoughPoints, PointsRequest

CREDENTIAL_PREFIX = "oao_dv"
MAX_DEVICES = 50
MAX_RULES = 10
OPEN_ORDER_STATUSES = ("pending_payment", "confirmed")
FUTURE_SLACK = timedelta(minutes=10)  # a device clock a little ahead is fine; a report from tomorrow is not
# Outcomes where no reorder was due at all: kept with the event, not announced in the outbox.
NOT_A_REORDER = frozenset({rules.ABOVE_THRESHOLD, rules.STALE_READING, rules.LEVEL_UNKNOWN, "no_rule"})
PAID_WORDS = {"points": "paid with points", "pay_at_pickup": "to pay at pickup",
              "pay_on_delivery": "to pay on delivery"}
RULE_FIELDS = ("quantity", "threshold", "capacity", "monthly_cap_minor", "fulfillment", "pickup_location_id",
               "address", "latitude", "longitude", "payment", "points_programme_id", "min_gap_hours", "enabled")


class DeviceEventReused(InvalidInput):
    slug, title = "device-event-reused", "Device event id reused with a different report"


class ReportRace(Exception):
    """Another request claimed this device event id first; retry in a new transaction to read its outcome."""


# --- devices ---------------------------------------------------------------------------------------

def register_device(session: Session, *, member_id: str, name: str, kind: str, merchant_id: str, unit: str,
                    now: datetime) -> tuple[Device, str]:
    """A new device of the member; returns it with its credential (shown once, only the hash is kept)."""
    if kind not in DEVICE_KINDS:
        raise InvalidInput(f"Unknown device kind {kind!r}; use one of {', '.join(DEVICE_KINDS)}.")
    if unit not in UNITS:
        raise InvalidInput(f"Unknown unit {unit!r}; use one of {', '.join(UNITS)}.")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("Give the device a name of 1 to 100 characters, such as \"Washing machine\".")
    try:
        network.get_merchant(session, merchant_id=merchant_id)
    except NotFound:
        raise InvalidInput(f"No shop {merchant_id!r} in the network; choose the shop this device orders from.",
                           errors=[{"field": "merchant_id", "message": "unknown shop"}]) from None
    if len(list_devices(session, member_id=member_id, include_revoked=False)) >= MAX_DEVICES:
        raise Conflict(f"You have {MAX_DEVICES} devices already; revoke one you no longer use first.")
    credential = new_token(CREDENTIAL_PREFIX)
    device = Device(id=new_id("dev"), member_id=member_id, merchant_id=merchant_id, name=name, kind=kind, unit=unit,
                    secret_hash=token_hash(credential), secret_hint=credential[:12], created_at=now, updated_at=now,
                    last_seen_at=None, revoked_at=None)
    session.add(device)
    session.flush()
    return device, credential


def list_devices(session: Session, *, member_id: str, include_revoked: bool = True) -> list[Device]:
    query = select(Device).where(Device.member_id == member_id).order_by(Device.created_at, Device.id)
    if not include_revoked:
        query = query.where(Device.revoked_at.is_(None))
    return list(session.scalars(query))


def get_device(session: Session, *, member_id: str, device_id: str) -> Device:
    """The member's own device; another member's is a 404, as if it did not exist."""
    device = session.get(Device, device_id)
    if device is None or device.member_id != member_id:
        raise NotFound(f"No device {device_id!r} of yours.")
    return device


def rename_device(session: Session, *, member_id: str, device_id: str, name: str, now: datetime) -> Device:
    device = get_device(session, member_id=member_id, device_id=device_id)
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("Give the device a name of 1 to 100 characters.")
    device.name, device.updated_at = name, now
    return device


def revoke_device(session: Session, *, member_id: str, device_id: str, now: datetime) -> Device:
    """Its credential stops working at once; its rules and history stay visible."""
    device = get_device(session, member_id=member_id, device_id=device_id)
    if device.revoked_at is None:
        device.revoked_at, device.updated_at = now, now
        for rule in list_rules(session, device_id=device.id):
            rule.enabled, rule.updated_at = False, now
    return device


def authenticate_device(session: Session, *, credential: str) -> Device:
    """The device behind a credential; 401 for an unknown or revoked one."""
    if not credential.startswith(CREDENTIAL_PREFIX + "_") or len(credential) > 200:
        raise Unauthorized("This needs a device credential: `Authorization: Bearer oao_dv_…`, shown once when the "
                           "member registered the device.")
    device = session.scalar(select(Device).where(Device.secret_hash == token_hash(credential)))
    if device is None:
        raise Unauthorized("Unknown device credential.")
    if device.revoked_at is not None:
        raise Unauthorized("This device was revoked by its owner; it can no longer report or order.")
    return device


# --- rules -----------------------------------------------------------------------------------------

def list_rules(session: Session, *, device_id: str) -> list[ReorderRule]:
    return list(session.scalars(select(ReorderRule).where(ReorderRule.device_id == device_id,
                                                          ReorderRule.deleted_at.is_(None))
                                .order_by(ReorderRule.created_at, ReorderRule.id)))


def get_rule(session: Session, *, member_id: str, device_id: str, rule_id: str) -> ReorderRule:
    rule = session.get(ReorderRule, rule_id)
    if rule is None or rule.member_id != member_id or rule.device_id != device_id or rule.deleted_at is not None:
        raise NotFound(f"No reorder rule {rule_id!r} on this device.")
    return rule


def _problem(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"field": field, "message": message}])


def _check_rule(session: Session, device: Device, values: dict[str, Any]) -> dict[str, Any]:
    """The rule's settings checked together, with what they imply filled in (currency, points programme)."""
    offer = catalog.active_offers(session, product_ids=[values["product_id"]],
                                  merchant_ids=[device.merchant_id]).get((device.merchant_id, values["product_id"]))
    if offer is None:
        shop = network.get_merchant(session, merchant_id=device.merchant_id).name
        raise _problem("product_id", f"{shop} does not sell product {values['product_id']!r}; choose one of its "
                                     "products.")
    values["currency"] = offer.currency
    if not 1 <= values["quantity"] <= 99:
        raise _problem("quantity", "Order between 1 and 99 at a time.")
    threshold, capacity = values.get("threshold"), values.get("capacity")
    if threshold is None and device.kind != "button":
        raise _problem("threshold", f"Say at which level to reorder (in {device.unit}); only a button reorders "
                                    "without one.")
    if threshold is not None and capacity is not None and threshold >= capacity:
        raise _problem("threshold", f"The reorder level ({threshold} {device.unit}) must be below the full level "
                                    f"({capacity} {device.unit}).")
    cap = values.get("monthly_cap_minor")
    if cap is not None and cap < 1:
        raise _problem("monthly_cap_minor", "A monthly cap is at least 1 (minor units), or none at all.")
    kind = values["fulfillment"]
    if kind not in FULFILLMENT_KINDS:
        raise _problem("fulfillment", f"Choose how to receive it: {', '.join(FULFILLMENT_KINDS)}.")
    if kind == "pickup":
        if not values.get("pickup_location_id"):
            raise _problem("pickup_location_id", "Choose the store where you pick it up.")
        try:
            place = network.get_location(session, location_id=values["pickup_location_id"])
        except NotFound:
            raise _problem("pickup_location_id", "No such pickup store.") from None
        if not place.active or not place.accepts_pickups:
            raise _problem("pickup_location_id", f"{place.name} does not take pickups; choose another store.")
        values.update(address=None, latitude=None, longitude=None)
    else:
        lat, lon = values.get("latitude"), values.get("longitude")
        if lat is None or lon is None or not valid_coordinates(lat, lon):
            raise _problem("address", "Give the address to deliver to, with its latitude and longitude.")
        values["address"] = (values.get("address") or "").strip()[:300]
        values["pickup_location_id"] = None
    payment = values["payment"]
    if payment not in PAYMENT_CHOICES:
        raise _problem("payment", f"Choose how reorders are paid: {', '.join(PAYMENT_CHOICES)}.")
    if payment == "in_person":
        values["points_programme_id"] = None
    else:
        programme_id = values.get("points_programme_id") or loyalty.network_programme(session).id
        try:
            programme = loyalty.get_programme(session, programme_id=programme_id)
        except NotFound:
            raise _problem("points_programme_id", f"No points programme {programme_id!r}.") from None
        if programme.currency != offer.currency:
            raise _problem("points_programme_id", f"{programme.name} points pay in {programme.currency}, but this "
                                                  f"product is sold in {offer.currency}.")
        values["points_programme_id"] = programme.id
    if not 0 <= values["min_gap_hours"] <= 24 * 90:
        raise _problem("min_gap_hours", "The minimum gap between reorders is 0 to 2160 hours (90 days).")
    return values


def add_rule(session: Session, *, member_id: str, device_id: str, values: dict[str, Any],
             now: datetime) -> ReorderRule:
    """A new reorder rule on one of the member's devices (fields as in schemas.RuleIn)."""
    device = get_device(session, member_id=member_id, device_id=device_id)
    if device.revoked_at is not None:
        raise InvalidState(f"{device.name} was revoked; register it again to give it rules.")
    if len(list_rules(session, device_id=device.id)) >= MAX_RULES:
        raise Conflict(f"A device has at most {MAX_RULES} reorder rules.")
    values = _check_rule(session, device, {"min_gap_hours": 24, "enabled": True, "payment": "in_person",
                                           "fulfillment": "delivery", **values})
    rule = ReorderRule(id=new_id("drl"), device_id=device.id, member_id=member_id, level=None, level_at=None,
                       deleted_at=None, created_at=now, updated_at=now,
                       **{k: values.get(k) for k in ("product_id", "currency", *RULE_FIELDS)})
    session.add(rule)
    session.flush()
    return rule


def update_rule(session: Session, *, member_id: str, device_id: str, rule_id: str, changes: dict[str, Any],
                now: datetime) -> ReorderRule:
    """Change some settings of a rule (the others stay); the whole rule is checked again."""
    rule = get_rule(session, member_id=member_id, device_id=device_id, rule_id=rule_id)
    device = get_device(session, member_id=member_id, device_id=device_id)
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise InvalidInput(f"These settings cannot be changed: {', '.join(sorted(unknown))}.")
    for required in ("quantity", "fulfillment", "payment", "min_gap_hours", "enabled"):
        if required in changes and changes[required] is None:
            raise _problem(required, f"{required} cannot be cleared; give a value.")
    current = {k: getattr(rule, k) for k in ("product_id", *RULE_FIELDS)}
    values = _check_rule(session, device, {**current, **changes})
    for key in RULE_FIELDS:
        setattr(rule, key, values.get(key))
    rule.updated_at = now
    return rule


def delete_rule(session: Session, *, member_id: str, device_id: str, rule_id: str, now: datetime) -> None:
    """The rule stops ordering; its past events keep pointing at it."""
    rule = get_rule(session, member_id=member_id, device_id=device_id, rule_id=rule_id)
    rule.deleted_at, rule.enabled, rule.updated_at = now, False, now


def product_titles(session: Session, *, product_ids: list[str]) -> dict[str, str]:
    return {p.id: p.title for p in catalog.products_by_ids(session, product_ids=product_ids).values()}


# --- reports -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReportIn:
    kind: str  # reading | press
    event_id: str
    at: datetime
    level: int | None = None
    consumed: int | None = None
    rule_id: str | None = None

    def fingerprint(self) -> str:
        body = {"kind": self.kind, "event_id": self.event_id, "at": self.at.isoformat(), "level": self.level,
                "consumed": self.consumed, "rule_id": self.rule_id}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def report(session: Session, *, device_id: str, data: ReportIn, now: datetime,
           settings: Settings) -> tuple[DeviceEvent, bool]:
    """Handle one reading or press once per device event id; returns (event, newly handled).

    Raises ReportRace when a concurrent twin claimed the id first: the caller retries in a new
    transaction and gets the twin's outcome.
    """
    device = session.get(Device, device_id)
    if device is None or device.revoked_at is not None:
        raise Unauthorized("This device was revoked by its owner; it can no longer report or order.")
    fingerprint = data.fingerprint()
    found = session.scalar(select(DeviceEvent).where(DeviceEvent.device_id == device.id,
                                                     DeviceEvent.event_id == data.event_id))
    if found is not None:
        if found.request_hash != fingerprint:
            raise DeviceEventReused(f"Event id {data.event_id!r} was already used for a different report; give "
                                    "every report its own event id.")
        return found, False
    if data.at > now + FUTURE_SLACK:
        raise InvalidInput(f"The report is dated {data.at.isoformat()}, in the future; check the device's clock.")
    event = DeviceEvent(id=new_id("dve"), device_id=device.id, member_id=device.member_id,
                        merchant_id=device.merchant_id, event_id=data.event_id, request_hash=fingerprint,
                        kind=data.kind, rule_id=None, level=data.level, consumed=data.consumed, reported_at=data.at,
                        received_at=now, outcome="skipped", reason="pending", detail="", order_id=None,
                        total_minor=None, currency=None)
    session.add(event)
    try:
        session.flush()  # claims the event id now; a concurrent twin waits here and then fails
    except IntegrityError:
        raise ReportRace() from None
    device.last_seen_at = now
    rule = _rule_for(session, device, data.rule_id)
    if rule is None:
        _finish(session, device, event, None, reason="no_rule",
                detail="This device has no reorder rule yet; its owner adds one on her devices page.", now=now)
        return event, True
    event.rule_id = rule.id
    # Lock the rule: a second low reading arriving together waits here and then sees this order.
    session.scalar(select(ReorderRule).where(ReorderRule.id == rule.id).with_for_update())
    session.refresh(rule)
    facts = rules.RuleFacts(enabled=rule.enabled, threshold=rule.threshold, capacity=rule.capacity,
                            min_gap=timedelta(hours=rule.min_gap_hours))
    kind = "press" if data.kind == "press" else "level" if data.level is not None else "consumed"
    value = data.level if data.level is not None else data.consumed
    decision = rules.decide(facts, _history(session, device, rule), rules.Report(kind=kind, value=value, at=data.at),
                            now=now)
    if decision.level_at is not None:
        rule.level, rule.level_at = decision.level, decision.level_at
    if decision.level is not None and event.level is None and kind == "consumed":
        event.level = decision.level  # what is left by our count, shown beside the consumption
    if not decision.reorder:
        _finish(session, device, event, rule, reason=decision.reason, detail=rules.REASON_WORDS[decision.reason],
                now=now)
        return event, True
    _reorder(session, device, rule, event, now=now, settings=settings)
    return event, True


def _rule_for(session: Session, device: Device, rule_id: str | None) -> ReorderRule | None:
    active = list_rules(session, device_id=device.id)
    if rule_id is not None:
        rule = next((r for r in active if r.id == rule_id), None)
        if rule is None:
            raise InvalidInput(f"This device has no reorder rule {rule_id!r}.")
        return rule
    if len(active) > 1:
        raise InvalidInput(f"This device has {len(active)} reorder rules; say which one the report is about "
                           "(rule_id).", rule_ids=[r.id for r in active])
    return active[0] if active else None


def _device_principal(merchant_id: str, device_id: str = "device") -> Principal:
    """Who quotes and places a device's orders: it acts for the member at its one shop, nowhere else."""
    return Principal(kind="device", id=device_id, name="connected device", role=Role.STORE_STAFF,
                     merchant_id=merchant_id)


def _order(session: Session, merchant_id: str, order_id: str) -> Any:
    return orders.get_order(session, order_id=order_id, principal=_device_principal(merchant_id))


def _history(session: Session, device: Device, rule: ReorderRule) -> rules.History:
    placed = list(session.scalars(select(DeviceEvent).where(DeviceEvent.rule_id == rule.id,
                                                            DeviceEvent.outcome == "ordered")
                                  .order_by(DeviceEvent.received_at.desc(), DeviceEvent.id.desc()).limit(10)))
    open_order, last_at, refilled = False, None, False
    for event in placed:
        order = _order(session, event.merchant_id, event.order_id)
        if order.status == "cancelled":
            continue
        open_order = order.status in OPEN_ORDER_STATUSES
        last_at = event.received_at
        refilled = order.status == "completed" and (rule.level_at is None or order.updated_at > rule.level_at)
        break
    return rules.History(level=rule.level, level_at=rule.level_at, open_order=open_order, last_order_at=last_at,
                         refilled_since_level=refilled)


def month_spent_minor(session: Session, *, member_id: str, now: datetime) -> int:
    """What the member's device orders placed this calendar month (UTC) cost, cancelled ones aside."""
    rows = session.execute(select(DeviceEvent.merchant_id, DeviceEvent.order_id, DeviceEvent.total_minor).where(
        DeviceEvent.member_id == member_id, DeviceEvent.outcome == "ordered",
        DeviceEvent.received_at >= rules.month_start(now))).all()
    return sum(total or 0 for merchant_id, order_id, total in rows
               if _order(session, merchant_id, order_id).status != "cancelled")


class _NotCovered(Exception):
    """Points were held but did not confirm the order (it would wait for a payment nobody makes)."""


def _reorder(session: Session, device: Device, rule: ReorderRule, event: DeviceEvent, *, now: datetime,
             settings: Settings) -> None:
    """Quote the rule's preferred way to receive it, check the cap, place and pay the order; or say why not."""
    principal = _device_principal(device.merchant_id, device.id)
    destination = None
    if rule.fulfillment != "pickup":
        destination = {"latitude": rule.latitude, "longitude": rule.longitude, "address": rule.address or ""}
    try:
        with session.begin_nested():
            quote = fulfillment.build_quote(
                session, principal=principal, destination=destination,
                items=[ItemIn(quantity=rule.quantity, product_id=rule.product_id, merchant_id=device.merchant_id)],
                pickup_location_id=rule.pickup_location_id if rule.fulfillment == "pickup" else None, at=None,
                now=now, settings=settings)
    except (InvalidInput, NotFound) as exc:
        _finish(session, device, event, rule, reason=rules.UNAVAILABLE, detail=exc.detail, now=now)
        return
    options = [o for o in quote.options if o["kind"] == rule.fulfillment and (
        rule.fulfillment != "pickup" or (o["pickup_location"] or {}).get("id") == rule.pickup_location_id)]
    if not options:
        reason = rules.UNAVAILABLE if _in_stock(session, device, rule) else rules.OUT_OF_STOCK
        _finish(session, device, event, rule, reason=reason, detail=rules.REASON_WORDS[reason], now=now)
        return
    option = min(options, key=lambda o: (o["arrive_at"], o["total_minor"]))
    spent = month_spent_minor(session, member_id=device.member_id, now=now)
    if rules.over_cap(rule.monthly_cap_minor, spent, option["total_minor"]):
        detail = (f"Not ordered: {option['total_minor']} more would make {spent + option['total_minor']} "
                  f"{option['currency']} (minor units) this month, over the cap of {rule.monthly_cap_minor}.")
        _finish(session, device, event, rule, reason=rules.CAP_REACHED, detail=detail, now=now,
                total_minor=option["total_minor"], currency=option["currency"])
        return
    in_person = "pay_at_pickup" if option["kind"] == "pickup" else "pay_on_delivery"
    points = PointsRequest(programme_id=rule.points_programme_id or "", amount_minor=option["total_minor"])
    attempts = {"in_person": [(None, in_person)], "points": [(points, None)],
                "points_or_in_person": [(points, in_person), (None, in_person)]}[rule.payment]
    member = members.get_member(session, member_id=device.member_id)
    customer = {"name": member.name or "Member", "phone": member.phone or "", "email": member.email or ""}
    reason, detail = rules.UNAVAILABLE, rules.REASON_WORDS[rules.UNAVAILABLE]
    for request, method in attempts:
        try:
            with session.begin_nested():
                order = orders.place_order(session, principal=principal, quote_id=quote.id, option_id=option["id"],
                                           customer=customer, payment_method=method, now=now, settings=settings,
                                           points=request, member_id=device.member_id)
                if order.status != "confirmed":
                    raise _NotCovered()
        except (NotEnoughPoints, _NotCovered) as exc:
            reason = rules.NOT_ENOUGH_POINTS
            detail = exc.detail if isinstance(exc, NotEnoughPoints) else rules.REASON_WORDS[reason]
            continue
        except InsufficientStock as exc:
            reason, detail = rules.OUT_OF_STOCK, exc.detail
            break
        except (Conflict, Gone, InvalidInput, InvalidState, NotFound) as exc:
            reason, detail = rules.UNAVAILABLE, exc.detail
            break
        event.outcome, event.order_id = "ordered", order.id
        paid = PAID_WORDS.get(order.payment_method, order.payment_method)
        _finish(session, device, event, rule, reason=rules.ORDERED,
                detail=f"Reordered {rule.quantity} × {option['lines'][0]['title']}, {paid}.",
                now=now, total_minor=order.total_minor, currency=order.currency)
        return
    _finish(session, device, event, rule, reason=reason, detail=detail, now=now, total_minor=option["total_minor"],
            currency=option["currency"])


def _in_stock(session: Session, device: Device, rule: ReorderRule) -> bool:
    places = [loc.id for loc in network.list_locations(session, merchant_id=device.merchant_id)]
    available = inventory.available_map(session, location_ids=places, product_ids=[rule.product_id])
    return sum(available.values()) >= rule.quantity


def _finish(session: Session, device: Device, event: DeviceEvent, rule: ReorderRule | None, *, reason: str,
            detail: str, now: datetime, total_minor: int | None = None, currency: str | None = None) -> None:
    """Keep the outcome with the event and tell the outbox (webhooks, the member area)."""
    event.reason, event.detail = reason, detail[:400]
    event.total_minor, event.currency = total_minor, currency
    placed = event.outcome == "ordered"
    if reason in NOT_A_REORDER:
        # A mere reading (still enough left): nothing to tell the shop or her webhooks; the event row keeps it.
        session.flush()
        return
    record_event(session, type="device.reorder_placed" if placed else "device.reorder_skipped", subject_id=event.id,
                 merchant_id=device.merchant_id,
                 payload={"device_event_id": event.id, "device_id": device.id, "event_id": event.event_id,
                          "rule_id": rule.id if rule else None, "member_id": device.member_id,
                          "outcome": event.outcome, "reason": reason, "order_id": event.order_id,
                          "product_id": rule.product_id if rule else None,
                          "quantity": rule.quantity if rule else None, "total_minor": total_minor,
                          "currency": currency}, at=now)
    session.flush()


# --- history ---------------------------------------------------------------------------------------

def list_events(session: Session, *, member_id: str, device_id: str | None = None, limit: int = 50
                ) -> list[DeviceEvent]:
    """The member's device reports and their outcomes, newest first (one device's, or all of hers)."""
    query = select(DeviceEvent).where(DeviceEvent.member_id == member_id)
    if device_id is not None:
        get_device(session, member_id=member_id, device_id=device_id)
        query = query.where(DeviceEvent.device_id == device_id)
    return list(session.scalars(query.order_by(DeviceEvent.received_at.desc(), DeviceEvent.id.desc()).limit(limit)))
