"""Store console floor pages: the pick queue and the pickup handover counter.

Transfers and returns live in floor_transfers.py and floor_returns.py and are
included here, so store/web.py only knows this router. Every page works with
plain forms (POST, then a 303 back to the page); htmx only swaps the part that
changed and polls the queue so its countdowns follow the server's clock.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oao.core.errors import Forbidden, InvalidInput, InvalidState, NotFound
from oao.deps import Ctx
from oao.fulfillment import lifecycle
from oao.fulfillment import service as fulfillment
from oao.network import service as network
from oao.orders import service as orders
from oao.web.common import StaffPageDep, check_csrf, is_htmx, render
from oao.web.store import floor_returns, floor_transfers
from oao.web.store.floor_views import (
    FloorStore,
    PickCard,
    floor_store,
    kind_words,
    local_time,
    money,
    orders_by_id,
    page_context,
    pick_cards,
    short_id,
    titles_of,
)

router = APIRouter(include_in_schema=False)
router.include_router(floor_transfers.router)
router.include_router(floor_returns.router)

LocationQuery = Annotated[str | None, Query(alias="location", max_length=40)]
CsrfField = Annotated[str, Form(max_length=200)]
POLL_SECONDS = 20  # countdowns move by the minute; a picker sees new orders within 20 s


# --- pick queue ------------------------------------------------------------------------------------

def _queue_context(ctx: Ctx, location: str | None) -> dict[str, object]:
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
        cards = pick_cards(session, lifecycle.queue(session, location_id=store.id), store, ctx.now())
    counts = {"to_pick": sum(c.stage in ("to_pick", "picking") for c in cards),
              "overdue": sum(c.overdue for c in cards), "ready": sum(c.stage == "ready" for c in cards),
              "waiting": sum(c.stage in ("waiting", "in_transit") for c in cards)}
    return {**page_context(store, ctx, "picks"), "cards": cards, "counts": counts, "poll_seconds": POLL_SECONDS}


@router.get("/store/picks", response_class=HTMLResponse)
def picks_page(request: Request, ctx: StaffPageDep, location: LocationQuery = None) -> HTMLResponse:
    return render(request, "store/picks.html", _queue_context(ctx, location), ctx=ctx)


@router.get("/store/picks/queue", response_class=HTMLResponse)
def picks_queue(request: Request, ctx: StaffPageDep, location: LocationQuery = None) -> HTMLResponse:
    """The queue alone, for htmx polling (refreshes countdowns and brings in new orders)."""
    return render(request, "store/_pick_queue.html", _queue_context(ctx, location), ctx=ctx)


def _run_pick_action(ctx: Ctx, store: FloorStore, fulfillment_id: str, action: str) -> None:
    with ctx.tx() as session:
        f = lifecycle.get_visible(session, fulfillment_id=fulfillment_id, principal=ctx.principal)
        if store.id not in (f.source_location_id, f.pickup_location_id, f.via_location_id):
            raise NotFound(f"No fulfillment {fulfillment_id!r} at {store.name}.")
        if action == "pick":
            lifecycle.start_picking(session, fulfillment=f, principal=ctx.principal, now=ctx.now())
        elif action == "pack":
            lifecycle.mark_packed(session, fulfillment=f, principal=ctx.principal, now=ctx.now(),
                                  hold_hours=ctx.settings.pickup_hold_hours)
        else:
            lifecycle.mark_delivered(session, fulfillment=f, principal=ctx.principal, now=ctx.now())
        orders.sync_status(session, order_id=f.order_id, now=ctx.now())


def _card(ctx: Ctx, store: FloorStore, fulfillment_id: str) -> PickCard:
    with ctx.read() as session:
        f = lifecycle.get_visible(session, fulfillment_id=fulfillment_id, principal=ctx.principal)
        return pick_cards(session, [f], store, ctx.now(), keep_sent=True)[0]


DONE_WORDS = {"pick": "Picking started.", "deliver": "Delivered: the order is complete."}


@router.post("/store/picks/{fulfillment_id}/{action}", response_class=HTMLResponse)
def pick_action(request: Request, ctx: StaffPageDep, fulfillment_id: str,
                action: Literal["pick", "pack", "deliver"], csrf: CsrfField = "",
                location: LocationQuery = None) -> Response:
    check_csrf(request, csrf)
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
    try:
        _run_pick_action(ctx, store, fulfillment_id, action)
    except (InvalidState, Forbidden) as refused:
        # Someone else moved the order, or it is not this store's to move: say so on the card itself.
        if not is_htmx(request):
            raise
        card = _card(ctx, store, fulfillment_id)
        card.message, card.message_kind = refused.detail, "error"
        return render(request, "store/_pick_card.html", {"card": card, "store": store}, ctx=ctx,
                      status=refused.status)
    if not is_htmx(request):
        return RedirectResponse(f"/store/picks{store.query}", status_code=303)
    card = _card(ctx, store, fulfillment_id)
    card.message_kind = "ok"
    card.message = DONE_WORDS.get(action) or {
        "ready": "Ready: the shopper can collect it with her pickup code.",
        "sent": card.note or "Sent.", "out_for_delivery": "Handed to the courier."}.get(card.stage, "Done.")
    return render(request, "store/_pick_card.html", {"card": card, "store": store}, ctx=ctx)


# --- pickup handover ---------------------------------------------------------------------------------

def _parcel_view(ctx: Ctx, store: FloorStore, code: str) -> dict[str, object]:
    """The order behind a pickup code at this store, ready to hand over; a Problem when it is not."""
    with ctx.read() as session:
        code = lifecycle.normalise_code(code)
        legs = fulfillment.parcels_for_code(session, location_id=store.id, code=code)
        if not legs:
            raise InvalidInput(f"Pickup code {code} does not match any parcel at {store.name}. Check the code and "
                               "the store named on the shopper's order.")
        ready = [f for f in legs if f.status == "ready_for_pickup"]
        if not ready:
            done = next((f for f in legs if f.status == "completed"), None)
            if done is not None:
                raise InvalidState(f"Pickup code {code} was already used: order {short_id(done.order_id)} was "
                                   f"handed over at {local_time(done.completed_at, store.timezone, ctx.now())}.")
            waiting = legs[0]
            words = {"in_transit": "is still on its way here", "confirmed": "is not picked yet",
                     "picking": "is being picked", "cancelled": "was cancelled"}.get(waiting.status, waiting.status)
            raise InvalidState(f"The parcel for pickup code {code} {words}; it cannot be handed over yet.")
        order = orders_by_id(session, {ready[0].order_id})[ready[0].order_id]
        titles = titles_of(session, {line["product_id"] for f in ready for line in f.lines})
        seller = ""
        if ready[0].merchant_id != store.merchant_id:
            seller = network.get_merchant(session, merchant_id=ready[0].merchant_id).name
        to_pay = order.payment_method in orders.IN_STORE_METHODS and order.status == "confirmed"
        return {"code": code, "order_id": order.id, "order_short": short_id(order.id),
                "customer": order.customer_name or "Customer", "phone_tail": order.customer_phone[-4:],
                "lines": [(int(line["quantity"]), titles.get(line["product_id"], line["product_id"]))
                          for f in ready for line in f.lines],
                "item_count": sum(int(line["quantity"]) for f in ready for line in f.lines),
                "kind": kind_words(ready[0].kind), "seller": seller, "to_pay": to_pay,
                "total": money(order.total_minor, order.currency),
                "paid_by": "wallet" if order.payment_method == "wallet_qr" else "in store",
                "ready_at": local_time(ready[0].ready_at, store.timezone, ctx.now()),
                "hold_until": local_time(ready[0].hold_until, store.timezone, ctx.now())}


def _pickup_render(request: Request, ctx: Ctx, store: FloorStore, *, status: int = 200,
                   **panel: object) -> HTMLResponse:
    context = {**page_context(store, ctx, "pickup"), "code": "", "parcel": None, "error": None, "done": None,
               **panel}
    template = "store/_pickup_panel.html" if is_htmx(request) else "store/pickup.html"
    return render(request, template, context, ctx=ctx, status=status)


@router.get("/store/pickup", response_class=HTMLResponse)
def pickup_page(request: Request, ctx: StaffPageDep, location: LocationQuery = None) -> HTMLResponse:
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
    return _pickup_render(request, ctx, store)


@router.post("/store/pickup", response_class=HTMLResponse)
def pickup_find(request: Request, ctx: StaffPageDep, code: Annotated[str, Form(max_length=64)] = "",
                csrf: CsrfField = "", location: LocationQuery = None) -> HTMLResponse:
    """A scanned or typed code: show the order so staff can check it before handing it over."""
    check_csrf(request, csrf)
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
    try:
        parcel = _parcel_view(ctx, store, code)
    except (InvalidInput, InvalidState) as refused:
        return _pickup_render(request, ctx, store, status=refused.status, code=code, error=refused.detail)
    return _pickup_render(request, ctx, store, code=parcel["code"], parcel=parcel)


@router.post("/store/pickup/hand-over", response_class=HTMLResponse)
def pickup_hand_over(request: Request, ctx: StaffPageDep, code: Annotated[str, Form(max_length=64)] = "",
                     csrf: CsrfField = "", location: LocationQuery = None) -> HTMLResponse:
    check_csrf(request, csrf)
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
    try:
        parcel = _parcel_view(ctx, store, code)
        with ctx.tx() as session:
            legs = lifecycle.hand_over(session, location_id=store.id, code=code, principal=ctx.principal,
                                       now=ctx.now())
            orders.sync_status(session, order_id=legs[0].order_id, now=ctx.now())
    except (InvalidInput, InvalidState, Forbidden) as refused:
        return _pickup_render(request, ctx, store, status=refused.status, code=code, error=refused.detail)
    done = (f"Handed over {parcel['item_count']} item{'s' if parcel['item_count'] != 1 else ''} of order "
            f"{parcel['order_short']} to {parcel['customer']}.")
    if parcel["to_pay"]:
        done += f" Collected {parcel['total']} at the counter."
    return _pickup_render(request, ctx, store, done=done)
