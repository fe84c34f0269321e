"""What the store console's floor pages (pick queue, pickup, transfers, returns) show.

Which store a page is for, times and money in plain words, and one card per
fulfillment saying what this store does next. Only reads: every change goes
through the domain services in the route modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.core.auth import Principal, Role
from oao.core.clock import as_utc
from oao.core.errors import Forbidden, NotFound
from oao.core.money import CURRENCY_EXPONENTS
from oao.deps import Ctx
from oao.fulfillment import lifecycle
from oao.fulfillment.models import Fulfillment
from oao.network import service as network
from oao.network.models import Location
from oao.orders.models import Order

CURRENCY_SIGNS = {"CNY": "¥", "JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$", "SGD": "S$"}
PAYMENT_WORDS = {"wallet_qr": "wallet", "pay_at_pickup": "cash or card at pickup",
                 "pay_on_delivery": "payment on delivery", "cash": "cash", "card": "card", "points": "points"}


# --- words ------------------------------------------------------------------------------------------

def money(amount_minor: int, currency: str) -> str:
    """¥12.50 style, for any currency the platform knows."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    units, minor = divmod(abs(amount_minor), 10 ** exponent)
    figure = f"{units:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    symbol = CURRENCY_SIGNS.get(currency)
    return f"{sign}{symbol}{figure}" if symbol else f"{sign}{figure} {currency}"


def local_time(at: datetime | None, timezone: str, now: datetime) -> str:
    """11:22 today; 'Tue 24 Nov, 11:22' on another day (in the store's own time zone)."""
    if at is None:
        return ""
    zone = ZoneInfo(timezone)
    local, today = as_utc(at).astimezone(zone), as_utc(now).astimezone(zone)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b')}, {local.strftime('%H:%M')}"


def _span(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours >= 24:
        days = hours // 24
        return f"{days} day{'s' if days > 1 else ''}"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def countdown(at: datetime, now: datetime) -> tuple[str, bool]:
    """('due in 12 min', False) or ('overdue by 5 min', True), from the server's clock."""
    seconds = (as_utc(at) - as_utc(now)).total_seconds()
    if seconds >= 60:
        return f"due in {_span(int(seconds // 60))}", False
    if seconds > -60:
        return "due now", False
    return f"overdue by {_span(int(-seconds // 60))}", True


# --- which store --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FloorStore:
    """The store a floor page works for, and the stores an admin may switch to (plain values: they outlive
    the read session)."""

    id: str
    name: str
    timezone: str
    merchant_id: str
    choices: list[tuple[str, str]]  # (id, name); empty for store staff, who work at one store
    query: str  # "?location=…" to keep an admin's choice in links and forms ("" for store staff)

    @classmethod
    def of(cls, location: Location, choices: list[tuple[str, str]], query: str) -> FloorStore:
        return cls(location.id, location.name, location.timezone, location.merchant_id, choices, query)


def floor_store(session: Session, principal: Principal, requested: str | None) -> FloorStore:
    """Store staff work at their own store; a merchant or network admin picks one with ?location=."""
    if principal.role is Role.STORE_STAFF:
        if principal.location_id is None:
            raise Forbidden("Your staff account is not attached to a store; ask your merchant admin.")
        if requested and requested != principal.location_id:
            raise NotFound(f"No location {requested!r} among your stores.")
        return FloorStore.of(network.get_location(session, location_id=principal.location_id), [], "")
    stores = [loc for loc in network.list_locations(session, merchant_id=principal.merchant_id)
              if loc.sells_in_store or loc.accepts_pickups]
    if requested:
        location = network.get_location(session, location_id=requested)
        principal.ensure_merchant(location.merchant_id, "location", requested)
    elif stores:
        location = stores[0]
    else:
        raise NotFound("You have no store to work at yet; add a location first.")
    return FloorStore.of(location, [(s.id, s.name) for s in stores], f"?location={location.id}")


def page_context(store: FloorStore, ctx: Ctx, nav: str) -> dict[str, object]:
    """What every floor page's shell needs: the nav mark, the store and the admin's store picker."""
    return {"store_nav": nav, "store_name": store.name, "store": store,
            "now_label": local_time(ctx.now(), store.timezone, ctx.now())}


# --- reads for the pages (read-only queries) ---------------------------------------------------------

def orders_by_id(session: Session, order_ids: set[str]) -> dict[str, Order]:
    """The orders behind fulfillments the caller may already see (one query)."""
    if not order_ids:
        return {}
    return {o.id: o for o in session.scalars(select(Order).where(Order.id.in_(sorted(order_ids))))}


def names_of_locations(session: Session, ids: set[str | None]) -> dict[str, str]:
    return {loc.id: loc.name for loc in network.locations_by_ids(session, location_ids={i for i in ids if i})}


def titles_of(session: Session, product_ids: set[str]) -> dict[str, str]:
    return {pid: p.title for pid, p in catalog.products_by_ids(session, product_ids=product_ids).items()}


def short_id(ident: str) -> str:
    """The last characters of an id, as staff read it aloud ('…4XK2')."""
    return ident.rsplit("_", 1)[-1][-6:].upper()


# --- pick queue cards ---------------------------------------------------------------------------------

@dataclass
class PickCard:
    id: str
    order_id: str
    order_short: str
    customer: str
    kind: str
    status: str
    stage: str  # to_pick | picking | waiting | in_transit | ready | out_for_delivery | sent | done
    stage_label: str
    badge: str  # badge class: info | warn | ok | bad | ""
    due_label: str
    due_at: str
    overdue: bool
    lines: list[tuple[int, str]]
    note: str = ""
    action: tuple[str, str] | None = None  # (action name, button label)
    link: tuple[str, str] | None = None  # (href, label) when the next step lives on another page
    partner: str = ""  # the seller's name when the parcel belongs to another merchant
    message: str = ""  # the answer to the last action on this card (success or refusal)
    message_kind: str = "info"
    extra: dict[str, Any] = field(default_factory=dict)


def _stage(session: Session, f: Fulfillment, here: str, names: dict[str, str]) -> dict[str, Any]:
    """What this store does next with this leg, in the words a picker reads."""
    target = lifecycle.transfer_target(f)
    source = names.get(f.source_location_id, "another store")
    working = lifecycle.working_location(session, f) if f.status in ("confirmed", "picking", "out_for_delivery") \
        else f.source_location_id
    goes_to = ""
    if target is not None and working == f.source_location_id:
        goes_to = f"Goes to {names.get(target, 'another store')} for {'pickup' if f.kind == 'pickup' else 'delivery'}."
    if f.status == "confirmed":
        if working == here:
            return {"stage": "to_pick", "stage_label": "To pick", "badge": "info", "action": ("pick", "Start picking"),
                    "note": goes_to}
        return {"stage": "waiting", "stage_label": "Waiting for transfer", "badge": "warn",
                "note": f"Coming from {source}; not sent yet."}
    if f.status == "picking":
        if working != here:
            return {"stage": "waiting", "stage_label": "Waiting for transfer", "badge": "warn",
                    "note": f"Being picked at {source}."}
        if goes_to:
            label = "Packed · send over"
        elif f.kind == "pickup":
            label = "Ready for pickup"
        else:
            label = "Out for delivery"
        return {"stage": "picking", "stage_label": "Picking", "badge": "info", "action": ("pack", label),
                "note": goes_to}
    if f.status == "in_transit":
        if target == here:
            return {"stage": "in_transit", "stage_label": "Waiting for transfer", "badge": "warn",
                    "note": f"On its way from {source}.", "link": ("/store/transfers", "Receive on Transfers")}
        return {"stage": "sent", "stage_label": "Sent", "badge": "ok",
                "note": f"Sent to {names.get(target or '', 'the pickup store')}."}
    if f.status == "ready_for_pickup":
        if f.pickup_location_id == here:
            return {"stage": "ready", "stage_label": "Ready for pickup", "badge": "ok",
                    "link": ("/store/pickup", "Hand over")}
        return {"stage": "sent", "stage_label": "Sent", "badge": "ok",
                "note": f"Waiting at {names.get(f.pickup_location_id or '', 'the pickup point')}."}
    if f.status == "out_for_delivery":
        if working == here:
            return {"stage": "out_for_delivery", "stage_label": "Out for delivery", "badge": "info",
                    "action": ("deliver", "Delivered")}
        return {"stage": "sent", "stage_label": "Out for delivery", "badge": "ok"}
    label = "Handed over" if f.status == "completed" else f.status.replace("_", " ").capitalize()
    return {"stage": "done", "stage_label": label, "badge": "ok" if f.status == "completed" else ""}


def pick_cards(session: Session, fulfillments: list[Fulfillment], store: FloorStore, now: datetime,
               *, keep_sent: bool = False) -> list[PickCard]:
    """One card per leg; legs this store already sent away are left out of the queue (kept after an action)."""
    orders = orders_by_id(session, {f.order_id for f in fulfillments})
    names = names_of_locations(session, {store.id} | {f.source_location_id for f in fulfillments}
                               | {f.pickup_location_id for f in fulfillments}
                               | {f.via_location_id for f in fulfillments})
    titles = titles_of(session, {line["product_id"] for f in fulfillments for line in f.lines})
    merchants: dict[str, str] = {}
    cards: list[PickCard] = []
    for f in fulfillments:
        stage = _stage(session, f, store.id, names)
        if stage["stage"] == "sent" and not keep_sent:
            continue
        order = orders.get(f.order_id)
        due_label, overdue = countdown(f.promised_at, now)
        if stage["stage"] in ("ready", "sent", "done"):
            overdue = False
            if stage["stage"] == "ready" and f.hold_until is not None:
                due_label = f"held until {local_time(f.hold_until, store.timezone, now)}"
            else:
                due_label = ""
        partner = ""
        if f.merchant_id != store.merchant_id:
            if f.merchant_id not in merchants:
                merchants[f.merchant_id] = network.get_merchant(session, merchant_id=f.merchant_id).name
            partner = merchants[f.merchant_id]
        cards.append(PickCard(
            id=f.id, order_id=f.order_id, order_short=short_id(f.order_id),
            customer=(order.customer_name if order is not None and order.customer_name else "Customer"),
            kind=f.kind, status=f.status, due_label=due_label,
            due_at=local_time(f.promised_at, store.timezone, now), overdue=overdue,
            lines=[(int(line["quantity"]), titles.get(line["product_id"], line["product_id"])) for line in f.lines],
            partner=partner, **stage))
    return cards


def kind_words(f_kind: str) -> str:
    return {"pickup": "Pickup", "delivery": "Delivery", "shipping": "Parcel"}.get(f_kind, f_kind)
