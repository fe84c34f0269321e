"""Signing webhook bodies and verifying the signature, Stripe style.

The header is `OAO-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the
MAC covers `"<t>.<raw body>"` with the subscription's secret. The timestamp is
inside the MAC so a captured request cannot be replayed later with a new `t`;
receivers reject timestamps older than a tolerance (5 minutes by default).
While a rotated secret is still honoured the header carries one `v1=` per
secret, and a receiver accepts the request if any of them matches its secret.

Pure: no database, no web framework. docs/webhooks.md shows the same check in
a receiver's terms.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime

SIGNATURE_HEADER = "OAO-Signature"
EVENT_ID_HEADER = "OAO-Event-Id"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300


class SignatureError(ValueError):
    """The header is malformed, stale, or no signature in it matches the secret."""


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and 32 random bytes, URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def compute(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>.<body>"` keyed with the whole secret string (prefix included)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header(secrets_: Iterable[str], timestamp: int, body: bytes) -> str:
    """The OAO-Signature value: `t=…` then one `v1=…` per secret in use (current first)."""
    parts = [f"t={timestamp}"] + [f"v1={compute(s, timestamp, body)}" for s in secrets_]
    return ",".join(parts)


def parse(value: str) -> tuple[int, list[str]]:
    """(timestamp, [v1 signatures]) from a header value; unknown schemes are ignored (forward compatible)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not val.isdigit():
                raise SignatureError("the t= timestamp is not a whole number of seconds")
            timestamp = int(val)
        elif key == "v1":
            signatures.append(val)
    if timestamp is None:
        raise SignatureError("the header has no t= timestamp")
    if not signatures:
        raise SignatureError("the header has no v1= signature")
    return timestamp, signatures


def verify_signature(secret: str, header_value: str, body: bytes, now: datetime | float | int,
                     tolerance: int = DEFAULT_TOLERANCE) -> int:
    """Check an OAO-Signature header against the raw body; returns the signed timestamp.

    Raises SignatureError when the header is malformed, when its timestamp is
    more than `tolerance` seconds away from `now` (a replay, or a badly wrong
    clock), or when no v1 signature matches. `body` must be the bytes as
    received: parsing and re-serialising JSON changes them.
    """
    timestamp, signatures = parse(header_value)
    now_s = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(now_s - timestamp) > tolerance:
        raise SignatureError(f"the timestamp is {int(now_s - timestamp)} s from now, beyond {tolerance} s")
    expected = compute(secret, timestamp, body)
    # compare_digest on every candidate: how far a guess matched must not show in the timing
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("no signature matches this secret and body")
    return timestamp
