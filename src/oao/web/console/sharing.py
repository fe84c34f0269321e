"""Data sharing in the merchant dashboard (/console/sharing): the policies that decide what leaves
for each recipient, and the disclosure log of what did (S4). Policies are changed through
PUT /api/v1/sharing/policies/{recipient_kind}/{recipient_id}; this page shows them."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from oao.sharing import service as sharing
from oao.sharing.classes import PURPOSES, RECIPIENT_KINDS
from oao.sharing.models import ANY_RECIPIENT
from oao.web.common import AdminPageDep
from oao.web.console.common import pick_merchant, scope_for, show

router = APIRouter(include_in_schema=False)
PAGE = 100


def _day(text: str | None, zone, *, end: bool = False) -> datetime | None:  # noqa: ANN001
    """A yyyy-mm-dd from the filter form as the start (or the end) of that day in the merchant's zone."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None
    return datetime.combine(day + timedelta(days=1 if end else 0), time(), tzinfo=zone)


@router.get("/console/sharing", response_class=HTMLResponse)
def sharing_page(request: Request, ctx: AdminPageDep, merchant: str | None = None, recipient: str | None = None,
                 since: str | None = None, until: str | None = None, history: bool = False) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "sharing")
    kind, _, recipient_id = (recipient or "").partition(":")
    with ctx.read() as session:
        policies = sharing.list_policies(session, owner_merchant_id=scope.merchant_id, history=history)
        defaults = {}
        for k in RECIPIENT_KINDS:
            policy, _ = sharing.effective_policy(session, owner_merchant_id=scope.merchant_id, recipient_kind=k,
                                                 recipient_id=ANY_RECIPIENT)
            defaults[k] = policy.to_document()
        disclosures = sharing.list_disclosures(
            session, owner_merchant_id=scope.merchant_id, recipient_kind=kind or None,
            recipient_id=recipient_id or None, since=_day(since, scope.timezone),
            until=_day(until, scope.timezone, end=True), limit=PAGE)
        recipients = sorted({(p.recipient_kind, p.recipient_id) for p in policies}
                            | {(d.recipient_kind, d.recipient_id) for d in disclosures})
        return show(request, scope, "console/sharing.html", "sharing", {
            "policies": policies, "defaults": defaults, "disclosures": disclosures, "recipients": recipients,
            "recipient": recipient or "", "since": since or "", "until": until or "", "history": history,
            "purposes": PURPOSES, "page_size": PAGE})
