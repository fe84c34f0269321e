"""Payment pages: the shopper's "scan to pay" page of an order or counter payment, and the
sandbox wallet's phone pages (mounted from `sandbox_web`)."""

from __future__ import annotations

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from oao.core.money import Money
from oao.payments import sandbox_web
from oao.payments import service as payments
from oao.payments.models import PaymentIntent
from oao.web.pages import templates

router = APIRouter(include_in_schema=False)
router.include_router(sandbox_web.router)


@router.get("/pay/{intent_id}", response_class=HTMLResponse)
def pay_page(request: Request, intent_id: str) -> HTMLResponse:
    """The QR to scan with the wallet app; reloads itself until the payment settles.

    Public, like a payment link: the intent id is unguessable and the page shows only the amount.
    """
    state = request.app.state
    with state.db.read() as session:
        intent = session.get(PaymentIntent, intent_id[:40])
        if intent is None or intent.out_trade_no is None:
            return templates.TemplateResponse(request, "payments/pay.html", {
                "openapi_url": "/api/openapi.json", "intent": None}, status_code=404)
        open_ = intent.status in payments.OPEN_STATUSES
        qr_svg = (segno.make(intent.qr_content, error="m").svg_inline(scale=7)
                  if open_ and intent.qr_content else None)
        return templates.TemplateResponse(request, "payments/pay.html", {
            "openapi_url": "/api/openapi.json", "intent": intent, "open": open_, "qr_svg": qr_svg,
            "amount": Money(intent.amount_minor, intent.currency).format()})
