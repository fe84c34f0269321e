"""The dashboard's data-sharing page: a merchant admin sees its policies and its disclosure log, filtered by
recipient and date, and never another merchant's."""

from __future__ import annotations

from datetime import timedelta

from oao.core.auth import Role
from oao.sharing import service as sharing
from oao.web.console import sharing as sharing_page
from tests import factories as f
from tests.conftest import T0

PASSWORD = "correct horse battery"


def mounted(app) -> None:
    """The lead includes the router in console/web.py; until then the test mounts it itself."""
    if not any(getattr(r, "path", None) == "/console/sharing" for r in app.router.routes):
        app.include_router(sharing_page.router)


def test_the_page_lists_policies_and_disclosures_of_the_merchant_only(app, client, db):
    mounted(app)
    with db.unit_of_work() as s:
        m = f.merchant(s, "Sweet Test", at=T0)
        other = f.merchant(s, "Rival Rolls", at=T0)
        f.staff_user(s, m, "admin@sweet.test", at=T0, password=PASSWORD, role=Role.MERCHANT_ADMIN)
        sharing.apply_agreement_policy(s, owner_merchant_id=m.id, partner_merchant_id=other.id, document={
            "permissions": [{"data_class": "aggregated_stats", "purposes": ["recommendation"]}]},
            agreement_id="agr_page", now=T0)
        sharing.project_outbound(s, owner_merchant_id=m.id, recipient_kind="payment_provider", recipient_id="sandbox",
                                 purpose="payment", payload_kind="payment.provider_order", now=T0,
                                 payload={"out_trade_no": "n1", "amount_minor": 1, "currency": "CNY",
                                          "merchant_id": m.id, "store_id": None, "expires_at": T0})
        sharing.project_outbound(s, owner_merchant_id=m.id, recipient_kind="webhook_subscriber", recipient_id="whs_9",
                                 purpose="integration", payload_kind="event:order.completed",
                                 now=T0 + timedelta(days=3), payload={"order_id": "o"})
        sharing.project_outbound(s, owner_merchant_id=other.id, recipient_kind="payment_provider",
                                 recipient_id="rival-secret-provider", purpose="payment",
                                 payload_kind="payment.provider_order", now=T0, payload={"out_trade_no": "n2"})
    r = client.post("/staff/login", data={"email": "admin@sweet.test", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/console/sharing")
    assert page.status_code == 200
    assert "agreement agr_page" in page.text and "aggregated_stats" in page.text
    assert "payment.provider_order" in page.text and "whs_9" in page.text
    assert "rival-secret-provider" not in page.text
    only_provider = client.get("/console/sharing", params={"recipient": "payment_provider:sandbox"}).text
    assert "event:order.completed" not in only_provider and "payment.provider_order" in only_provider
    later = client.get("/console/sharing", params={"since": (T0 + timedelta(days=2)).date().isoformat()}).text
    assert "event:order.completed" in later and "payment.provider_order" not in later
    assert client.get("/console/sharing", params={"merchant": other.id}).status_code == 404
