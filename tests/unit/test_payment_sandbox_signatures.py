"""The sandbox wallet's notification signatures: Ed25519 over the raw body, checked by OAO's client."""

import base64
import json

import httpx
import pytest

from oao.config import Settings
from oao.payments import sandbox
from oao.payments.providers import InvalidNotification
from oao.payments.sandbox_client import SandboxWalletClient

SETTINGS = Settings(secret_key="unit-test-secret")
BODY = json.dumps({"event_id": "sbe_1", "app_id": sandbox.APP_ID, "out_trade_no": "ord_1", "trade_no": "sbt_1",
                   "merchant_ref": "mer_1", "amount_minor": 100, "currency": "CNY", "status": "succeeded",
                   "occurred_at": "2026-11-17T02:00:00+00:00"}).encode()


def _client(settings=SETTINGS):
    return SandboxWalletClient(http=httpx.Client(), base_url="http://x", notify_url="http://x/n",
                               app_id=sandbox.APP_ID, app_secret=sandbox.app_secret(settings),
                               wallet_public_key=sandbox.public_key(settings))


def _headers(signature):
    return {sandbox.SIGNATURE_HEADER: f"ed25519={signature}"}


def test_a_notification_signed_by_the_wallet_verifies_and_is_read():
    note = _client().verify_notification(raw_body=BODY, headers=_headers(sandbox.sign(SETTINGS, BODY)))
    assert (note.event_id, note.out_trade_no, note.amount_minor, note.status) == ("sbe_1", "ord_1", 100, "succeeded")


def test_one_changed_byte_or_another_key_fails_verification():
    signature = sandbox.sign(SETTINGS, BODY)
    with pytest.raises(InvalidNotification):
        _client().verify_notification(raw_body=BODY.replace(b"100", b"900"), headers=_headers(signature))
    with pytest.raises(InvalidNotification):
        _client(Settings(secret_key="another-secret")).verify_notification(raw_body=BODY, headers=_headers(signature))


@pytest.mark.parametrize("header", [{}, {sandbox.SIGNATURE_HEADER: "rsa=abc"},
                                    {sandbox.SIGNATURE_HEADER: "ed25519=%%%"},
                                    {sandbox.SIGNATURE_HEADER: "ed25519=" + base64.b64encode(b"x" * 64).decode()}])
def test_missing_or_malformed_signatures_are_refused(header):
    with pytest.raises(InvalidNotification):
        _client().verify_notification(raw_body=BODY, headers=header)


def test_a_signed_body_that_is_not_a_notification_is_refused():
    raw = b'{"hello": "world"}'
    with pytest.raises(InvalidNotification):
        _client().verify_notification(raw_body=raw, headers=_headers(sandbox.sign(SETTINGS, raw)))
