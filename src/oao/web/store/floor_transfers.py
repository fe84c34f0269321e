"""Store console: transfers in and out of this store.

Incoming: what other stores sent or will send here, with the expected arrival,
and Receive once it is on its way. Outgoing: what this store must send (an
order's goods for another store's pickup, or a staff transfer) and what is on
the road. Receiving an order's goods makes the order ready for pickup (or
starts the delivery), exactly as the JSON API does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from oao.core.clock import as_utc
from oao.core.errors import Forbidden, InvalidState, NotFound
from oao.deps import Ctx
from oao.fulfillment import lifecycle
from oao.inventory import transfers
from oao.inventory.models import Transfer
from oao.orders import service as orders
from oao.web.common import StaffPageDep, check_csrf, is_htmx, render
from oao.web.store.floor_views import (
    FloorStore,
    floor_store,
    local_time,
    names_of_locations,
    orders_by_id,
    page_context,
    short_id,
    titles_of,
)

router = APIRouter(include_in_schema=False)

LocationQuery = Annotated[str | None, Query(alias="location", max_length=40)]


@dataclass
class TransferCard:
    id: str
    short: str
    other_store: str  # where it comes from (incoming) or goes to (outgoing)
    lines: list[tuple[int, str]]
    expected_at: str
    expected_words: str  # "in 25 min" / "late by 5 min" / "received 10:52"
    late: bool
    status_label: str
    badge: str
    order_label: str  # "Order 4XK2AB for Wang Lei" when it carries an order
    action: tuple[str, str] | None = None  # (receive|send, button label)


def _expected_words(at: datetime, now: datetime) -> tuple[str, bool]:
    minutes = int((as_utc(at) - as_utc(now)).total_seconds() // 60)
    if minutes >= 1:
        return (f"in {minutes} min" if minutes < 120 else f"in {minutes // 60} h"), False
    if minutes > -1:
        return "due now", False
    return f"late by {-minutes} min" if minutes > -120 else f"late by {-minutes // 60} h", True


def _cards(session: Session, rows: list[Transfer], store: FloorStore, now: datetime, *,
           incoming: bool) -> list[TransferCard]:
    names = names_of_locations(session, {t.from_location_id for t in rows} | {t.to_location_id for t in rows})
    titles = titles_of(session, {line["product_id"] for t in rows for line in t.lines})
    legs = {t.id: lifecycle.for_transfer(session, transfer_id=t.id) for t in rows if t.fulfillment_id}
    orders = orders_by_id(session, {f.order_id for f in legs.values() if f is not None})
    cards = []
    for t in rows:
        leg = legs.get(t.id)
        order = orders.get(leg.order_id) if leg is not None else None
        order_label = ""
        if order is not None:
            order_label = f"Order {short_id(order.id)}" + (f" for {order.customer_name}" if order.customer_name else "")
        words, late = _expected_words(t.expected_arrival_at, now)
        action: tuple[str, str] | None = None
        if t.status == "received":
            status_label, badge, late = "Received", "ok", False
            words = f"received {local_time(t.received_at, store.timezone, now)}"
        elif incoming:
            if t.status == "in_transit":
                status_label, badge, action = "On its way", "info", ("receive", "Receive")
            else:
                status_label, badge = "Not sent yet", "warn"
        elif t.status == "requested":
            status_label, badge = "To send", "warn"
            picked = leg is None or leg.status == "picking"
            action = ("send", "Send" if picked else "Pick and send")
        else:
            status_label, badge = "On its way", "info"
            words = f"sent {local_time(t.shipped_at, store.timezone, now)}, arrives {words}"
        cards.append(TransferCard(
            id=t.id, short=short_id(t.id),
            other_store=names.get(t.from_location_id if incoming else t.to_location_id, "another store"),
            lines=[(int(line["quantity"]), titles.get(line["product_id"], line["product_id"])) for line in t.lines],
            expected_at=local_time(t.expected_arrival_at, store.timezone, now), expected_words=words, late=late,
            status_label=status_label, badge=badge, order_label=order_label, action=action))
    return cards


def _panel_context(ctx: Ctx, store: FloorStore) -> dict[str, object]:
    now = ctx.now()
    zone = ZoneInfo(store.timezone)
    midnight = datetime.combine(as_utc(now).astimezone(zone).date(), time(0), tzinfo=zone)
    with ctx.read() as session:
        def listed(direction: str, status: str) -> list[Transfer]:
            return transfers.list_transfers(session, location_id=store.id, merchant_id=None, direction=direction,
                                            status=status)

        incoming = sorted(listed("incoming", "in_transit") + listed("incoming", "requested"),
                          key=lambda t: (t.expected_arrival_at, t.id))
        return {
            "incoming": _cards(session, incoming, store, now, incoming=True),
            "to_send": _cards(session, listed("outgoing", "requested"), store, now, incoming=False),
            "on_the_way": _cards(session, listed("outgoing", "in_transit"), store, now, incoming=False),
            "received": _cards(session, transfers.received_since(session, location_id=store.id, since=midnight),
                               store, now, incoming=True),
        }


def _render(request: Request, ctx: Ctx, store: FloorStore, *, status: int = 200, message: str = "",
            message_kind: str = "ok") -> HTMLResponse:
    context = {**page_context(store, ctx, "transfers"), **_panel_context(ctx, store), "message": message,
               "message_kind": message_kind}
    template = "store/_transfers_panel.html" if is_htmx(request) else "store/transfers.html"
    return render(request, template, context, ctx=ctx, status=status)


@router.get("/store/transfers", response_class=HTMLResponse)
def transfers_page(request: Request, ctx: StaffPageDep, location: LocationQuery = None) -> HTMLResponse:
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
    return _render(request, ctx, store)


def _move(ctx: Ctx, store: FloorStore, transfer_id: str, action: str) -> str:
    """Receive or send one transfer of this store; returns what happened in words."""
    with ctx.tx() as session:
        t = session.get(Transfer, transfer_id)
        # Only this store's transfers exist here: floor_store already checked the caller works at it.
        if t is None or store.id != (t.to_location_id if action == "receive" else t.from_location_id):
            raise NotFound(f"No transfer {transfer_id!r} at {store.name}.")
        leg = lifecycle.for_transfer(session, transfer_id=t.id)
        names = names_of_locations(session, {t.from_location_id, t.to_location_id})
        if action == "receive":
            if leg is not None:
                lifecycle.receive_at_pickup(session, fulfillment=leg, principal=ctx.principal, now=ctx.now(),
                                            hold_hours=ctx.settings.pickup_hold_hours)
                orders.sync_status(session, order_id=leg.order_id, now=ctx.now())
                then = (" The order is ready for pickup." if leg.status == "ready_for_pickup"
                        else " It is in the pick queue for delivery.")
            else:
                transfers.receive_transfer(session, transfer_id=t.id, now=ctx.now())
                then = " The goods are on this store's shelf."
            return f"Received transfer {short_id(t.id)} from {names.get(t.from_location_id)}.{then}"
        if leg is not None:
            # An order's goods leave when its picking is done; "Pick and send" does both steps at once.
            if leg.status == "confirmed":
                lifecycle.start_picking(session, fulfillment=leg, principal=ctx.principal, now=ctx.now())
            lifecycle.mark_packed(session, fulfillment=leg, principal=ctx.principal, now=ctx.now(),
                                  hold_hours=ctx.settings.pickup_hold_hours)
            orders.sync_status(session, order_id=leg.order_id, now=ctx.now())
        else:
            transfers.ship_transfer(session, transfer_id=t.id, now=ctx.now())
        return (f"Sent transfer {short_id(t.id)} to {names.get(t.to_location_id)}; expected there at "
                f"{local_time(t.expected_arrival_at, store.timezone, ctx.now())}.")


@router.post("/store/transfers/{transfer_id}/{action}", response_class=HTMLResponse)
def transfer_action(request: Request, ctx: StaffPageDep, transfer_id: str, action: Literal["receive", "send"],
                    csrf: Annotated[str, Form(max_length=200)] = "", location: LocationQuery = None) -> Response:
    check_csrf(request, csrf)
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
    try:
        message = _move(ctx, store, transfer_id, action)
    except (InvalidState, Forbidden) as refused:
        if not is_htmx(request):
            raise
        return _render(request, ctx, store, status=refused.status, message=refused.detail, message_kind="error")
    if not is_htmx(request):
        return RedirectResponse(f"/store/transfers{store.query}", status_code=303)
    return _render(request, ctx, store, message=message)
