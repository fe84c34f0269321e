"""The contract every wallet provider passes: the sandbox wallet, Alipay, and any later one.

How to run it against a provider: subclass `ProviderContract` in a `test_*.py` module and give
the class a `harness` fixture returning an object that satisfies `ProviderHarness`:

    class TestSandboxContract(ProviderContract):
        @pytest.fixture
        def harness(self, ...):
            h = SandboxHarness(...)      # drives the sandbox wallet as a shopper would
            yield h

A harness that talks to a live (in-process) provider makes `begin`/`finish` no-ops; one that
replays recordings (Alipay) loads `tests/fixtures/<provider>/<scenario>.json` in `begin` and
checks in `finish` that every recorded call was made. Scenario names are the `begin(...)`
arguments below; the inputs (order numbers, amounts, refund ids) are fixed so recordings match.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Literal, Protocol

import pytest

from oao.payments.providers import (
    ChargeStatus,
    InvalidNotification,
    ProviderOrder,
    WalletProvider,
)

Outcome = Literal["succeeded", "processing", "failed"]

AMOUNT = 10000  # 100.00 in minor units
MERCHANT = "mer_contract_bakery"
STORE = "loc_contract_stall_7"


class ProviderHarness(Protocol):
    provider: WalletProvider
    currency: str

    def begin(self, scenario: str) -> None:
        """Start a scenario (a replayer loads its recording)."""

    def finish(self) -> None:
        """End a scenario (a replayer asserts every recorded call was made)."""

    def now(self) -> datetime:
        """The provider's clock (aware UTC)."""

    def auth_code(self, outcome: Outcome) -> str:
        """A customer payment code the provider will answer with `outcome`."""

    def shopper_approves(self, out_trade_no: str) -> None:
        """The shopper scans the precreated QR and confirms the payment on the phone."""

    def notification(self, *, out_trade_no: str, amount_minor: int, status: ChargeStatus,
                     forged: bool = False) -> tuple[bytes, dict[str, str]]:
        """(raw body, headers) of the provider's asynchronous notification; `forged` signs with a wrong key."""

    def outbound(self) -> list[Mapping[str, str]]:
        """The business fields of every request sent to the provider since `begin` ([] if nothing leaves)."""

    def protocol_field(self, key: str, value: str) -> bool:
        """Whether a field is protocol furniture carrying no order data (product code, scene, timeout)."""


def order(harness: ProviderHarness, out_trade_no: str, amount_minor: int = AMOUNT) -> ProviderOrder:
    return ProviderOrder(out_trade_no=out_trade_no, amount_minor=amount_minor, currency=harness.currency,
                         merchant_id=MERCHANT, store_id=STORE, expires_at=harness.now() + timedelta(minutes=15))


def assert_only_order_data_left(harness: ProviderHarness, orders: list[ProviderOrder], *extra: str) -> None:
    """S4: every value sent is one of the order's own fields (or a code/refund id given to the call)."""
    allowed: set[str] = set(extra)
    for o in orders:
        allowed |= {o.out_trade_no, o.currency, o.merchant_id, o.store_id or "", str(o.amount_minor),
                    f"{o.amount_minor // 100}.{o.amount_minor % 100:02d}", f"Order {o.out_trade_no}"}
    for request in harness.outbound():
        for key, value in request.items():
            if harness.protocol_field(key, str(value)):
                continue
            assert str(value) in allowed, f"{key}={value!r} is not order data the provider may receive"
            assert not re.search(r"sku|gtin|item|product_name", f"{key}", re.I), key


class ProviderContract:
    """Behaviour OAO relies on, whatever the wallet. Subclasses supply the `harness` fixture."""

    @pytest.fixture
    def h(self, harness: ProviderHarness) -> Iterator[ProviderHarness]:
        yield harness
        harness.finish()

    def test_precreate_gives_a_qr_that_expires_no_later_than_the_order(self, h):
        h.begin("precreate_expires")
        o = order(h, "oao_c_precreate_1")
        result = h.provider.precreate(o)
        assert result.qr_content
        assert h.now() < result.expires_at <= o.expires_at
        assert_only_order_data_left(h, [o])

    def test_a_precreated_qr_the_shopper_approves_queries_as_succeeded(self, h):
        h.begin("precreate_paid")
        o = order(h, "oao_c_precreate_2")
        h.provider.precreate(o)
        h.shopper_approves(o.out_trade_no)
        charge = h.provider.query(out_trade_no=o.out_trade_no)
        assert (charge.status, charge.amount_minor, charge.out_trade_no) == ("succeeded", AMOUNT, o.out_trade_no)
        assert charge.provider_trade_no

    def test_a_payment_code_charge_succeeds_and_the_query_agrees(self, h):
        h.begin("pay_succeeded")
        o = order(h, "oao_c_pay_1")
        code = h.auth_code("succeeded")
        charge = h.provider.pay_with_code(o, auth_code=code)
        assert (charge.status, charge.amount_minor) == ("succeeded", AMOUNT)
        assert charge.provider_trade_no
        polled = h.provider.query(out_trade_no=o.out_trade_no)
        assert (polled.status, polled.provider_trade_no, polled.amount_minor) == (
            "succeeded", charge.provider_trade_no, AMOUNT)
        assert_only_order_data_left(h, [o], code)

    def test_a_user_paying_charge_is_processing_and_cancelling_it_twice_closes_it_once(self, h):
        h.begin("pay_processing_cancel")
        o = order(h, "oao_c_pay_2")
        charge = h.provider.pay_with_code(o, auth_code=h.auth_code("processing"))
        assert charge.status == "processing"
        assert h.provider.query(out_trade_no=o.out_trade_no).status == "processing"
        assert h.provider.cancel(out_trade_no=o.out_trade_no).status == "closed"
        assert h.provider.cancel(out_trade_no=o.out_trade_no).status == "closed"
        assert h.provider.query(out_trade_no=o.out_trade_no).status == "closed"

    def test_a_refused_payment_code_fails_with_a_reason(self, h):
        h.begin("pay_failed")
        o = order(h, "oao_c_pay_3")
        charge = h.provider.pay_with_code(o, auth_code=h.auth_code("failed"))
        assert charge.status == "failed" and charge.message
        assert charge.out_trade_no == o.out_trade_no

    def test_querying_an_order_the_provider_never_saw_is_not_found(self, h):
        h.begin("query_unknown")
        assert h.provider.query(out_trade_no="oao_c_never_sent").status == "not_found"

    def test_partial_refunds_add_up_and_stop_at_what_was_paid(self, h):
        h.begin("refunds_capped")
        o = order(h, "oao_c_refund_1")
        assert h.provider.pay_with_code(o, auth_code=h.auth_code("succeeded")).status == "succeeded"
        first = h.provider.refund(out_trade_no=o.out_trade_no, out_request_no="rfd_c_1a", amount_minor=3000,
                                  currency=h.currency)
        second = h.provider.refund(out_trade_no=o.out_trade_no, out_request_no="rfd_c_1b", amount_minor=5000,
                                   currency=h.currency)
        assert [(r.status, r.refunded_minor) for r in (first, second)] == [("succeeded", 3000), ("succeeded", 5000)]
        too_much = h.provider.refund(out_trade_no=o.out_trade_no, out_request_no="rfd_c_1c", amount_minor=3000,
                                     currency=h.currency)
        assert (too_much.status, too_much.refunded_minor) == ("failed", 0) and too_much.message
        rest = h.provider.refund(out_trade_no=o.out_trade_no, out_request_no="rfd_c_1d", amount_minor=2000,
                                 currency=h.currency)
        assert (rest.status, rest.refunded_minor) == ("succeeded", 2000)

    def test_the_same_refund_id_twice_refunds_once(self, h):
        h.begin("refund_same_id")
        o = order(h, "oao_c_refund_2")
        h.provider.pay_with_code(o, auth_code=h.auth_code("succeeded"))
        first = h.provider.refund(out_trade_no=o.out_trade_no, out_request_no="rfd_c_2a", amount_minor=6000,
                                  currency=h.currency)
        again = h.provider.refund(out_trade_no=o.out_trade_no, out_request_no="rfd_c_2a", amount_minor=6000,
                                  currency=h.currency)
        assert (first.status, again.status, again.out_request_no) == ("succeeded", "succeeded", "rfd_c_2a")
        # Had the repeat refunded again, only 0.00 would be left and this would fail.
        rest = h.provider.refund(out_trade_no=o.out_trade_no, out_request_no="rfd_c_2b", amount_minor=4000,
                                 currency=h.currency)
        assert rest.status == "succeeded"
        over = h.provider.refund(out_trade_no=o.out_trade_no, out_request_no="rfd_c_2c", amount_minor=1,
                                 currency=h.currency)
        assert over.status == "failed"
        assert_only_order_data_left(h, [o], h.auth_code("succeeded"), "rfd_c_2a", "rfd_c_2b", "rfd_c_2c",
                                    "60.00", "40.00", "0.01", "6000", "4000", "1")

    def test_a_correctly_signed_notification_is_accepted(self, h):
        h.begin("notification")
        o = order(h, "oao_c_notify_1")
        h.provider.pay_with_code(o, auth_code=h.auth_code("succeeded"))
        body, headers = h.notification(out_trade_no=o.out_trade_no, amount_minor=AMOUNT, status="succeeded")
        note = h.provider.verify_notification(raw_body=body, headers=headers)
        assert (note.out_trade_no, note.amount_minor, note.currency, note.status, note.app_id) == (
            o.out_trade_no, AMOUNT, h.currency, "succeeded", h.provider.app_id)
        assert note.event_id and note.provider_trade_no
        assert note.occurred_at.tzinfo is not None

    def test_a_notification_with_a_tampered_body_is_refused(self, h):
        h.begin("notification_tampered")
        body, headers = h.notification(out_trade_no="oao_c_notify_2", amount_minor=AMOUNT, status="succeeded")
        tampered = body.replace(b"oao_c_notify_2", b"oao_c_notify_3")
        assert tampered != body
        with pytest.raises(InvalidNotification):
            h.provider.verify_notification(raw_body=tampered, headers=headers)
        with pytest.raises(InvalidNotification):
            h.provider.verify_notification(raw_body=body[: len(body) // 2], headers=headers)

    def test_a_notification_with_a_forged_signature_is_refused(self, h):
        h.begin("notification_forged")
        body, headers = h.notification(out_trade_no="oao_c_notify_4", amount_minor=AMOUNT, status="succeeded",
                                       forged=True)
        with pytest.raises(InvalidNotification):
            h.provider.verify_notification(raw_body=body, headers=headers)
