"""Merchant dashboard pages (/console): the overview here; catalog and stock, CSV imports,
locations and staff in their own modules, all mounted on this router."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from oao.web.common import AdminPageDep
from oao.web.console import catalog_pages, charts, imports, places, sharing
from oao.web.console import replenishment as replenishment_pages
from oao.web.console.common import money_short, pick_merchant, scope_for, show
from oao.web.console.overview import CHANNELS, KINDS, PERIODS, build

router = APIRouter(include_in_schema=False)
router.include_router(catalog_pages.router)
router.include_router(imports.router)
router.include_router(sharing.router)
router.include_router(places.router)
router.include_router(replenishment_pages.router)


@router.get("/console", response_class=HTMLResponse)
def console_home(request: Request, ctx: AdminPageDep, merchant: str | None = None, days: int = 7) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "overview")
    days = days if days in PERIODS else PERIODS[0]
    with ctx.read() as session:
        overview = build(session, merchant_id=scope.merchant_id, currency=scope.currency, zone=scope.timezone,
                         now=ctx.now(), days=days)
    labels = [d.strftime("%a %d" if days <= 7 else "%d %b") for d in overview.days]
    series = [charts.Series(key, name, overview.sales[key], charts.PALETTE[key]) for key, name in CHANNELS]
    summary = ", ".join(f"{name} {scope.money(overview.channel_total(key))}" for key, name in CHANNELS)
    sales_chart = charts.stacked_bars(
        "sales-chart", labels, series, title=f"Sales by channel, last {days} days",
        desc=f"Daily sales stacked by channel. Total {scope.money(overview.total)}: {summary}.",
        fmt=lambda v: money_short(v, scope.currency))
    points_chart = charts.lines(
        "points-chart", labels,
        [charts.Series("issued", "Issued", overview.issued, charts.PALETTE["issued"]),
         charts.Series("redeemed", "Redeemed", overview.redeemed, charts.PALETTE["redeemed"])],
        title=f"Points issued and redeemed, last {days} days",
        desc=f"{sum(overview.issued):,} points issued and {sum(overview.redeemed):,} redeemed.",
        fmt=lambda v: f"{v:,}")
    return show(request, scope, "console/overview.html", "overview", {
        "overview": overview, "days": days, "periods": PERIODS, "channels": CHANNELS, "kinds": KINDS,
        "palette": charts.PALETTE, "sales_chart": sales_chart, "points_chart": points_chart, "labels": labels})
