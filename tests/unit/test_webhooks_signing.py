"""Webhook signatures: what a receiver accepts and what it refuses."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from oao.webhooks.signing import SignatureError, compute, header, new_secret, parse, verify_signature

BODY = b'{"data":{"order_id":"ord_1","total_minor":1250},"id":"evt_1","type":"order.completed"}'
T = 1_790_000_000


def test_a_signed_body_verifies_and_matches_the_documented_recipe():
    secret = new_secret()
    value = header([secret], T, BODY)
    expected = hmac.new(secret.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert value == f"t={T},v1={expected}"
    assert verify_signature(secret, value, BODY, now=T + 10) == T


def test_a_tampered_body_is_refused():
    secret = new_secret()
    value = header([secret], T, BODY)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_signature(secret, value, BODY.replace(b"1250", b"1", 1), now=T)


def test_another_secret_is_refused():
    value = header([new_secret()], T, BODY)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_signature(new_secret(), value, BODY, now=T)


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_a_stale_or_future_timestamp_is_refused(skew: int):
    secret = new_secret()
    value = header([secret], T, BODY)
    with pytest.raises(SignatureError, match="beyond 300 s"):
        verify_signature(secret, value, BODY, now=T + skew)
    assert verify_signature(secret, value, BODY, now=T + skew, tolerance=abs(skew)) == T


def test_a_replayed_signature_with_a_new_timestamp_is_refused():
    secret = new_secret()
    old_sig = compute(secret, T, BODY)
    with pytest.raises(SignatureError):
        verify_signature(secret, f"t={T + 1000},v1={old_sig}", BODY, now=T + 1000)


def test_during_a_rotation_either_secret_verifies():
    old, new = new_secret(), new_secret()
    value = header([new, old], T, BODY)
    assert verify_signature(new, value, BODY, now=T) == T
    assert verify_signature(old, value, BODY, now=T) == T
    assert len(parse(value)[1]) == 2


@pytest.mark.parametrize("value", ["", "v1=abc", f"t={T}", "t=soon,v1=abc", "garbage"])
def test_malformed_headers_are_refused(value: str):
    with pytest.raises(SignatureError):
        verify_signature(new_secret(), value, BODY, now=T)


def test_unknown_schemes_are_ignored():
    secret = new_secret()
    value = header([secret], T, BODY) + ",v0=deadbeef"
    assert verify_signature(secret, value, BODY, now=T) == T


def test_secrets_are_prefixed_and_random():
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and len(a) > 40 and a != b


def _docs() -> str:
    return (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()


def test_the_documented_receiver_code_verifies_what_oao_signs():
    code = _docs().split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 - our own documentation
    documented = namespace["verify_signature"]
    secret = new_secret()
    value = header([secret, new_secret()], T, BODY)
    assert documented(secret, value, BODY, now=T + 5) == T
    for args in ((secret, value, BODY + b"x"), (new_secret(), value, BODY)):
        with pytest.raises(namespace["SignatureError"]):
            documented(*args, now=T)
    with pytest.raises(namespace["SignatureError"]):
        documented(secret, value, BODY, now=T + 301)


def test_the_documented_test_vector_holds():
    assert "t=1700000000,v1=" + compute("whsec_test", 1_700_000_000, b'{"id":"evt_1"}') in _docs()
