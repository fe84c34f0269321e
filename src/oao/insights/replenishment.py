"""Replenishment (S8): suggested purchase orders per store, staff decisions, leftovers at closing.

A suggestion is built from the precomputed forecasts (insight_forecasts: mean
per day; insight_forecast_series: the chosen model's one-day error sd), the
store's stock (on hand, reserved) and its open expected receipts (on order),
through the pure rules in stock_policy. Building one supersedes the store's
previous proposal, so staff only ever see one current proposal per store.
Accepting (with edited quantities) turns its lines into expected receipts, once:
the status moves proposed -> accepted in a conditional UPDATE, and a second
accept is a 409 (or, with the same Idempotency-Key, a replay of the first).

Which rule a product gets: a perishable product whose shelf life is no longer
than the review period cannot outlast the next delivery, so each batch is a
single-period (newsvendor) decision; everything else gets the order-up-to
policy. Economics: OAO has no cost price yet, so cost is assumed to be a share
of the offer's price (Economics.cost_share, 60 % by default: a 40 % gross
margin, typical of fresh bakery and produce) and every line's reason says it
was assumed. The markdown price is a share of the price, and a leftover's
salvage value is the markdown price times the share of leftovers a markdown
sells. A real unit cost per offer is the next step (a column on offers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.catalog.models import Product
from oao.core.db import get_or_404
from oao.core.errors import InvalidInput, InvalidState
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.insights import stock_policy as policy
from oao.insights.models import Forecast, ForecastSeries, PurchaseSuggestion, PurchaseSuggestionLine
from oao.inventory import receipts
from oao.inventory import reports as inventory_reports
from oao.inventory import service as inventory
from oao.inventory.models import ExpectedReceipt
from oao.network import hours
from oao.network import service as network
from oao.network.models import Location

DEFAULT_LEAD_TIME_DAYS = 1  # ordered today, delivered tomorrow morning: the usual fresh-goods rhythm
DEFAULT_REVIEW_DAYS = 1  # one order a day
DEFAULT_SERVICE_LEVEL = 0.95
# A markdown of 50 % roughly doubles the rate fresh goods sell at (an assumption, stated on every decision).
MARKDOWN_LIFT = 2.0
MAX_QUANTITY = 1_000_000
LEFTOVER_SCAN_LIMIT = 10_000  # stock rows read per store for the closing check


@dataclass(frozen=True, slots=True)
class Economics:
    """Money assumptions while OAO has no cost prices (shares of the offer's price)."""

    cost_share: float = 0.6
    markdown_share: float = 0.5
    markdown_sell_through: float = 0.5  # share of leftover units the markdown sells

    def check(self) -> Economics:
        if not 0 < self.cost_share <= 1:
            raise InvalidInput("cost_share is the cost as a share of the price: above 0, at most 1.")
        if not 0 <= self.markdown_share <= 1 or not 0 <= self.markdown_sell_through <= 1:
            raise InvalidInput("markdown_share and markdown_sell_through are shares from 0 to 1.")
        if self.markdown_share * self.markdown_sell_through > self.cost_share:
            raise InvalidInput("A leftover would be worth more than its cost: lower the markdown share.")
        return self

    def cost(self, price_minor: int) -> int:
        return round(price_minor * self.cost_share)

    def markdown_price(self, price_minor: int) -> int:
        return round(price_minor * self.markdown_share)

    def salvage(self, price_minor: int) -> int:
        return min(self.cost(price_minor), round(self.markdown_price(price_minor) * self.markdown_sell_through))

    def as_reason(self) -> dict[str, Any]:
        return {"cost_share": self.cost_share, "markdown_share": self.markdown_share,
                "markdown_sell_through": self.markdown_sell_through,
                "cost_source": "assumed share of the price (no cost prices in OAO yet)"}


# --- forecasts ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SeriesForecast:
    product_id: str
    daily_means: list[float]  # day 0 = the store's today
    error_sd: float
    model: str
    error_sd_source: str  # "backtest" or "poisson" (no backtest row: sd = √mean)


def read_forecasts(session: Session, *, merchant_id: str, location_id: str, start: date,
                   days: int) -> dict[str, SeriesForecast]:
    """The stored forecasts of a store for [start, start + days), one per product that has any.

    Read straight from insight_forecasts / insight_forecast_series (what the forecast job
    writes). A day missing from the stored horizon falls back to the series' mean daily
    demand, or to the average of the days present."""
    series = {s.product_id: s for s in session.scalars(
        select(ForecastSeries).where(ForecastSeries.merchant_id == merchant_id,
                                     ForecastSeries.location_id == location_id))}
    per_day: dict[str, dict[date, tuple[float, str]]] = {}
    for f in session.scalars(select(Forecast).where(
            Forecast.merchant_id == merchant_id, Forecast.location_id == location_id, Forecast.day >= start,
            Forecast.day < start + timedelta(days=days))):
        per_day.setdefault(f.product_id, {})[f.day] = (max(0.0, float(f.mean)), f.model)
    out: dict[str, SeriesForecast] = {}
    for product_id in sorted(set(series) | set(per_day)):
        known = per_day.get(product_id, {})
        s = series.get(product_id)
        if s is not None:
            fallback = max(0.0, float(s.mean_daily))
        elif known:
            fallback = sum(m for m, _ in known.values()) / len(known)
        else:
            continue
        means = [known[start + timedelta(days=d)][0] if start + timedelta(days=d) in known else fallback
                 for d in range(days)]
        if s is not None:
            sd, source, model = max(0.0, float(s.error_sd)), "backtest", s.model
        else:
            sd, source = math.sqrt(sum(means) / len(means)) if means else 0.0, "poisson"
            model = next(iter(known.values()))[1]
        out[product_id] = SeriesForecast(product_id, means, sd, model, source)
    return out


# --- building suggestions ---------------------------------------------------------------------------

@dataclass
class Built:
    created: list[PurchaseSuggestion] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)


def _case_pack(product: Product) -> int:
    """Case pack from the product's attributes ("case_pack": 12), one unit when not given."""
    value = (product.attributes or {}).get("case_pack")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


def _newsvendor_window(product: Product, review_days: int) -> int | None:
    """Days a fresh batch sells for when it cannot outlast the next delivery; None for order-up-to."""
    if not product.perishable or product.shelf_life_days is None:
        return None
    shelf_life = max(1, product.shelf_life_days)
    return shelf_life if shelf_life <= review_days else None


def _check_policy(lead_time_days: int, review_days: int, service_level: float) -> None:
    if not 0 <= lead_time_days <= 60:
        raise InvalidInput("lead_time_days is from 0 to 60.")
    if not 1 <= review_days <= 60:
        raise InvalidInput("review_days is from 1 to 60.")
    if not 0.5 <= service_level < 1:
        raise InvalidInput("service_level is a probability from 0.5 to below 1, such as 0.95.")


def _line_plan(*, product: Product, forecast: SeriesForecast, price_minor: int | None, level: tuple[int, int],
               open_receipts: list[ExpectedReceipt], arrival: datetime, lead_time_days: int, review_days: int,
               service_level: float, economics: Economics) -> tuple[int, dict[str, Any]]:
    on_hand, reserved = level
    pack = _case_pack(product)
    window = _newsvendor_window(product, review_days)
    base = {"forecast_model": forecast.model, "error_sd_source": forecast.error_sd_source,
            "forecast_daily": [round(m, 3) for m in forecast.daily_means],
            "forecast_total": round(sum(forecast.daily_means), 3), "error_sd": round(forecast.error_sd, 3),
            "on_hand": on_hand, "reserved": reserved}
    if window is not None and price_minor is not None and price_minor > 0:
        # Stock that expires before the new batch is sold does not count: on hand only if it outlives
        # the lead time, receipts only if they arrive within a shelf life before the new batch.
        shelf_life = product.shelf_life_days or 1
        usable = max(0, on_hand - reserved) if shelf_life > lead_time_days else 0
        counted = sum(r.quantity for r in open_receipts if r.expected_at >= arrival - timedelta(days=shelf_life))
        plan = policy.newsvendor_plan(
            daily_means=forecast.daily_means, error_sd=forecast.error_sd, start_day=lead_time_days,
            window_days=window, price_minor=price_minor, cost_minor=economics.cost(price_minor),
            salvage_minor=economics.salvage(price_minor), usable_stock=usable, on_order=counted, case_pack=pack)
        return plan.quantity, {**base, **plan.as_reason(), "shelf_life_days": shelf_life,
                               "lead_time_days": lead_time_days, "economics": economics.as_reason()}
    on_order = sum(r.quantity for r in open_receipts)
    review = policy.order_up_to_plan(
        daily_means=forecast.daily_means, error_sd=forecast.error_sd, lead_time_days=lead_time_days,
        review_days=review_days, service_level=service_level,
        stock=policy.StockPosition(on_hand=on_hand, reserved=reserved, on_order=on_order), case_pack=pack)
    extra = {"note": "perishable without a price: order-up-to used"} if window is not None else {}
    return review.quantity, {**base, **review.as_reason(), **extra}


def _event(session: Session, suggestion: PurchaseSuggestion, lines: list[PurchaseSuggestionLine], now: datetime,
           type_: str) -> None:
    record_event(session, type=type_, subject_id=suggestion.id, merchant_id=suggestion.merchant_id,
                 payload={"suggestion_id": suggestion.id, "location_id": suggestion.location_id,
                          "status": suggestion.status, "line_count": len(lines),
                          "units": sum(line.quantity for line in lines)}, at=now)


def _own_location(session: Session, merchant_id: str, location_id: str) -> Location:
    location = network.get_location(session, location_id=location_id)
    if location.merchant_id != merchant_id:
        raise InvalidInput(f"Location {location_id} belongs to another merchant.")
    return location


def suggest_purchase_orders(session: Session, *, merchant_id: str, location_id: str | None, now: datetime,
                            lead_time_days: int = DEFAULT_LEAD_TIME_DAYS, review_days: int = DEFAULT_REVIEW_DAYS,
                            service_level: float = DEFAULT_SERVICE_LEVEL,
                            economics: Economics = Economics()) -> Built:
    """Build the current suggested purchase order of one store (or of every store of the merchant).

    A store gets a suggestion only when something needs ordering; its previous proposal is
    superseded either way, since it was computed from older figures."""
    _check_policy(lead_time_days, review_days, service_level)
    economics.check()
    locations = ([_own_location(session, merchant_id, location_id)] if location_id is not None
                 else network.list_locations(session, merchant_id=merchant_id))
    built = Built()
    for location in locations:
        _build_for(session, location=location, now=now, lead_time_days=lead_time_days, review_days=review_days,
                   service_level=service_level, economics=economics, built=built)
    return built


def _build_for(session: Session, *, location: Location, now: datetime, lead_time_days: int, review_days: int,
               service_level: float, economics: Economics, built: Built) -> None:
    today = hours.local_time(now, location.timezone).date()
    forecasts = read_forecasts(session, merchant_id=location.merchant_id, location_id=location.id, start=today,
                               days=lead_time_days + review_days)
    previous = list(session.scalars(select(PurchaseSuggestion.id).where(
        PurchaseSuggestion.merchant_id == location.merchant_id, PurchaseSuggestion.location_id == location.id,
        PurchaseSuggestion.status == "proposed")))
    if previous:
        session.execute(update(PurchaseSuggestion).where(PurchaseSuggestion.id.in_(previous),
                                                         PurchaseSuggestion.status == "proposed")
                        .values(status="superseded", decided_at=now))
        old_lines = suggestion_lines(session, suggestion_ids=previous)
        for old in session.scalars(select(PurchaseSuggestion).where(PurchaseSuggestion.id.in_(previous))):
            session.refresh(old)
            _event(session, old, old_lines[old.id], now, "purchase_suggestion.superseded")
        built.superseded += previous
    if not forecasts:
        return
    ids = list(forecasts)
    products = catalog.products_by_ids(session, product_ids=ids)
    offers = catalog.offers_for(session, merchant_id=location.merchant_id, product_ids=ids)
    levels = inventory.level_figures(session, keys=[(location.id, p) for p in ids])
    open_by_product: dict[str, list[ExpectedReceipt]] = {}
    for r in receipts.list_open(session, location_id=location.id, product_ids=ids):
        open_by_product.setdefault(r.product_id, []).append(r)
    arrival = now + timedelta(days=lead_time_days)
    lines: list[tuple[str, int, dict[str, Any]]] = []
    for product_id in ids:
        product, offer = products.get(product_id), offers.get(product_id)
        if product is None or offer is None or not offer.active:
            continue  # not sold here any more: nothing to reorder
        try:
            quantity, reason = _line_plan(
                product=product, forecast=forecasts[product_id], price_minor=offer.price_minor,
                level=levels.get((location.id, product_id), (0, 0)), open_receipts=open_by_product.get(product_id, []),
                arrival=arrival, lead_time_days=lead_time_days, review_days=review_days,
                service_level=service_level, economics=economics)
        except ValueError as exc:  # e.g. a price below the assumed cost: say so rather than guess
            raise InvalidInput(f"{product.title}: {exc}") from None
        if quantity > 0:
            reason["price_minor"], reason["currency"] = offer.price_minor, offer.currency
            lines.append((product.title, quantity, {"product_id": product_id, **reason}))
    if not lines:
        return
    suggestion = PurchaseSuggestion(id=new_id("sug"), merchant_id=location.merchant_id, location_id=location.id,
                                    status="proposed", created_at=now, expected_at=arrival, decided_at=None,
                                    decided_by=None, run_id=None)
    session.add(suggestion)
    rows = []
    for _, quantity, reason in sorted(lines, key=lambda line: (line[0], line[2]["product_id"])):
        product_id = reason.pop("product_id")
        rows.append(PurchaseSuggestionLine(id=new_id("sgl"), suggestion_id=suggestion.id, product_id=product_id,
                                           suggested_quantity=quantity, quantity=quantity, reason=reason))
    session.add_all(rows)
    session.flush()
    _event(session, suggestion, rows, now, "purchase_suggestion.proposed")
    built.created.append(suggestion)


# --- reading and deciding -------------------------------------------------------------------------

def get_suggestion(session: Session, *, suggestion_id: str) -> PurchaseSuggestion:
    return get_or_404(session, PurchaseSuggestion, suggestion_id, "purchase suggestion")


def suggestion_lines(session: Session, *, suggestion_ids: list[str]) -> dict[str, list[PurchaseSuggestionLine]]:
    out: dict[str, list[PurchaseSuggestionLine]] = {sid: [] for sid in suggestion_ids}
    if suggestion_ids:
        for line in session.scalars(select(PurchaseSuggestionLine)
                                    .where(PurchaseSuggestionLine.suggestion_id.in_(suggestion_ids))
                                    .order_by(PurchaseSuggestionLine.id)):
            out[line.suggestion_id].append(line)
    return out


def list_suggestions(session: Session, *, merchant_id: str, location_id: str | None = None,
                     status: str | None = None, limit: int = 50) -> list[PurchaseSuggestion]:
    """Newest first."""
    query = select(PurchaseSuggestion).where(PurchaseSuggestion.merchant_id == merchant_id)
    if location_id is not None:
        query = query.where(PurchaseSuggestion.location_id == location_id)
    if status is not None:
        query = query.where(PurchaseSuggestion.status == status)
    return list(session.scalars(query.order_by(PurchaseSuggestion.created_at.desc(), PurchaseSuggestion.id.desc())
                                .limit(limit)))


def _decide(session: Session, suggestion: PurchaseSuggestion, status: str, decided_by: str, now: datetime) -> None:
    result = session.execute(
        update(PurchaseSuggestion).where(PurchaseSuggestion.id == suggestion.id,
                                         PurchaseSuggestion.status == "proposed")
        .values(status=status, decided_at=now, decided_by=decided_by))
    session.refresh(suggestion)
    if result.rowcount != 1:
        raise InvalidState(f"Purchase suggestion {suggestion.id} is already {suggestion.status}; "
                           "build a new one to order again.")


def accept(session: Session, *, suggestion_id: str, quantities: dict[str, int] | None, decided_by: str,
           now: datetime) -> tuple[PurchaseSuggestion, list[ExpectedReceipt]]:
    """Accept a proposal, with staff's edited quantities (line id -> units; 0 drops a line).

    Each line left with units becomes one expected receipt, due when the suggestion said."""
    suggestion = get_suggestion(session, suggestion_id=suggestion_id)
    lines = suggestion_lines(session, suggestion_ids=[suggestion.id])[suggestion.id]
    by_id = {line.id: line for line in lines}
    edits = dict(quantities or {})
    unknown = sorted(set(edits) - set(by_id))
    if unknown:
        raise InvalidInput(f"Suggestion {suggestion.id} has no line {unknown[0]!r}.",
                           errors=[{"field": f"quantities.{u}", "message": "no such line"} for u in unknown])
    bad = {k: v for k, v in edits.items()
           if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_QUANTITY}
    if bad:
        raise InvalidInput("Quantities are whole numbers from 0 to 1,000,000 (0 drops the line).",
                           errors=[{"field": f"quantities.{k}", "message": f"{v!r} is not a quantity"}
                                   for k, v in sorted(bad.items())])
    _decide(session, suggestion, "accepted", decided_by, now)
    created = []
    for line in lines:
        line.quantity = edits.get(line.id, line.quantity)
        if line.quantity > 0:
            created.append(receipts.expect(
                session, merchant_id=suggestion.merchant_id, location_id=suggestion.location_id,
                product_id=line.product_id, quantity=line.quantity, expected_at=suggestion.expected_at, now=now,
                reference=line.id))
    session.flush()
    _event(session, suggestion, lines, now, "purchase_suggestion.accepted")
    return suggestion, created


def reject(session: Session, *, suggestion_id: str, decided_by: str, now: datetime) -> PurchaseSuggestion:
    suggestion = get_suggestion(session, suggestion_id=suggestion_id)
    _decide(session, suggestion, "rejected", decided_by, now)
    _event(session, suggestion, suggestion_lines(session, suggestion_ids=[suggestion.id])[suggestion.id], now,
           "purchase_suggestion.rejected")
    return suggestion


def receipts_of(session: Session, *, suggestion_id: str) -> list[ExpectedReceipt]:
    """The expected receipts an accepted suggestion created."""
    lines = suggestion_lines(session, suggestion_ids=[suggestion_id])[suggestion_id]
    return receipts.by_reference(session, references=[line.id for line in lines])


# --- leftovers at closing ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LeftoverRow:
    product_id: str
    title: str
    leftover: int
    forecast_today: float
    remaining_demand: float
    price_minor: int
    currency: str
    decision: policy.LeftoverDecision


@dataclass(frozen=True, slots=True)
class LeftoverReport:
    location_id: str
    at: datetime
    closes_at: datetime | None
    open_share_left: float  # share of today's opening hours still ahead
    rows: list[LeftoverRow]
    without_forecast: list[str]  # perishable products with stock but no forecast: no advice


def _open_share_left(location: Location, now: datetime) -> float:
    calendar = hours.Calendar(location.opening_hours, location.closures, location.timezone)
    shifts = calendar.shifts(calendar.local_day(now))
    total = sum((end - start).total_seconds() for start, end in shifts)
    ahead = sum(max(0.0, (end - max(start, now)).total_seconds()) for start, end in shifts)
    return ahead / total if total > 0 else 0.0


def leftovers_at_close(session: Session, *, merchant_id: str, location_id: str, now: datetime,
                       economics: Economics = Economics(), channel: str | None = None,
                       channel_share: float = 0.0) -> LeftoverReport:
    """For each perishable product with stock not held for orders: keep, mark down, move or write off.

    The rest of today's demand is today's forecast times the share of today's opening hours
    still ahead; a markdown sells MARKDOWN_LIFT times that. `channel` is another outlet that
    takes leftovers at `channel_share` of the price (a partner, a food-rescue app). Meant for
    the last hours of the day: earlier, the rest of the day's demand covers most shelves."""
    economics.check()
    if not 0 <= channel_share <= 1:
        raise InvalidInput("channel_share is a share of the price from 0 to 1.")
    location = _own_location(session, merchant_id, location_id)
    levels, _ = inventory_reports.levels_at(session, location_id=location.id, limit=LEFTOVER_SCAN_LIMIT)
    stocked = {lv.product_id: lv.available for lv in levels if lv.available > 0}
    products = {pid: p for pid, p in catalog.products_by_ids(session, product_ids=stocked).items() if p.perishable}
    today = hours.local_time(now, location.timezone).date()
    forecasts = read_forecasts(session, merchant_id=merchant_id, location_id=location.id, start=today, days=1)
    offers = catalog.offers_for(session, merchant_id=merchant_id, product_ids=products)
    share = _open_share_left(location, now)
    rows, missing = [], []
    for pid, product in sorted(products.items(), key=lambda item: (item[1].title, item[0])):
        offer = offers.get(pid)
        if pid not in forecasts or offer is None:
            missing.append(pid)
            continue
        today_mean = forecasts[pid].daily_means[0]
        remaining = today_mean * share
        price = offer.price_minor
        decision = policy.decide_leftover(policy.LeftoverCase(
            leftover=stocked[pid], full_price_demand=remaining, markdown_demand=MARKDOWN_LIFT * remaining,
            keeps_overnight=(product.shelf_life_days or 0) >= 2, price_minor=price,
            markdown_price_minor=economics.markdown_price(price), channel=channel if channel_share > 0 else None,
            channel_value_minor=round(price * channel_share) if channel else 0))
        rows.append(LeftoverRow(pid, product.title, stocked[pid], today_mean, remaining, price, offer.currency,
                                decision))
    closes = hours.closes_at(location.opening_hours, location.closures, location.timezone, now)
    return LeftoverReport(location.id, now, closes, share, rows, missing)
