"""Shared set-up for the payment tests: a shop, and the sandbox wallet wired in-process.

The provider's httpx client is a TestClient on the same app, so OAO reaches the
sandbox wallet over real HTTP semantics without a socket, and every outbound
request is captured for the data-minimisation checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from oao.core.outbox import OutboxEvent
from oao.payments import gateway, sandbox
from oao.payments.sandbox_models import SandboxDelivery
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth


@dataclass
class Wallet:
    app: Any
    http: TestClient
    requests: list[httpx.Request] = field(default_factory=list)

    def factory(self) -> gateway.ProviderFactory:
        return self.app.state.payment_provider_factory

    def deliver(self, clock) -> int:
        """Run the sandbox's delivery job once (what the worker does)."""
        return sandbox.deliver_notifications(self.app.state.db, clock, self.app.state.settings, self.http)

    def poll(self, clock) -> int:
        return gateway.poll_open_payments(self.app.state.db, clock, self.app.state.settings, self.factory())


def wire_wallet(app) -> Wallet:
    http = TestClient(app)
    wallet = Wallet(app=app, http=http)
    http.event_hooks = {"request": [wallet.requests.append], "response": []}
    app.state.payment_provider_factory = gateway.default_provider_factory(app.state.settings, http=http)
    return wallet


@dataclass
class Shop:
    key: str
    merchant_id: str
    store_id: str
    product_id: str
    gtin: str
    title: str


def shop(db, units: int = 5, price: int = 3600) -> Shop:
    with db.unit_of_work() as s:
        m = f.merchant(s, "Lakeside Noodles", at=T0)
        store = f.location(s, m, "Lakeside Noodles Hubin", 30.2590, 120.1630, at=T0, pick_minutes=10)
        p = f.product(s, 611, "Hand-pulled beef noodles kit", at=T0, category="food")
        f.offer(s, m, p, price, at=T0)
        f.stock(s, store, p, units, at=T0)
        return Shop(f.api_key(s, m, at=T0), m.id, store.id, p.id, p.gtin, p.title)


def place_wallet_order(client, sh: Shop, qty: int = 2, **extra) -> dict:
    quote = client.post("/api/v1/quotes", headers=auth(sh.key), json={
        "lines": [{"product_id": sh.product_id, "quantity": qty}], "pickup_location_id": sh.store_id}).json()
    response = client.post("/api/v1/orders", headers=auth(sh.key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "wallet_qr", **extra})
    assert response.status_code == 201, response.text
    return response.json()


def approve(client, qr_content: str):
    """The shopper's phone: open the QR's URL and approve."""
    path = httpx.URL(qr_content).path
    page = client.get(path)
    assert page.status_code == 200 and "Approve payment" in page.text
    return client.post(path)


def events(db, type_: str, subject_id: str | None = None) -> int:
    with db.read() as s:
        query = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == type_)
        if subject_id is not None:
            query = query.where(OutboxEvent.subject_id == subject_id)
        return s.scalar(query)


def queued_notifications(db) -> list[SandboxDelivery]:
    with db.read() as s:
        rows = list(s.scalars(select(SandboxDelivery).order_by(SandboxDelivery.created_at, SandboxDelivery.id)))
        s.expunge_all()
        return rows


def notify(client, row: SandboxDelivery, *, body: bytes | None = None, signature: str | None = None):
    return client.post("/api/v1/payments/notify/sandbox", content=body if body is not None else row.body.encode(),
                       headers={"Content-Type": "application/json",
                                sandbox.SIGNATURE_HEADER: f"ed25519={signature or row.signature}"})


def body_of(row: SandboxDelivery) -> dict:
    return json.loads(row.body)


def test_the_kit_wires_the_sandbox_wallet_into_the_app(app, client):
    wallet = wire_wallet(app)
    assert wallet.factory()("sandbox").name == "sandbox"
    assert client.get("/sandbox-wallet").status_code == 200
