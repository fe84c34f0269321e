"""The federation protocol's documents: link invitation tokens, pickup code
hashes and the payload kinds of every message (docs/federation.md describes
them for other implementers). Pure: no database, no web layer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from oao.federation.signatures import SignatureError, b64url, b64url_decode, public_key_of, sign_bytes, verify_bytes
from oao.sharing.classes import register_payload_kind

PROTOCOL_VERSION = 1
TOKEN_PREFIX = "oaofed1"
API_PREFIX = "/api/v1/federation"

# Every message body that leaves through a link is projected through sharing
# (deny by default); these maps classify their fields. Fields of the protocol
# itself (ids of the link and parcel, message type) are references too.
PARCEL_EXPECTED = register_payload_kind("federation.parcel_expected", {
    "message_id": "order_reference",
    "parcel_id": "order_reference",
    "order_reference": "order_reference",
    "merchant": "merchant_reference",
    "pickup_location_id": "location",
    "parcel_count": "fulfillment_status",
    "expected_at": "fulfillment_status",
    "pickup_code_hash": "pickup_code",
    "customer.first_name": "member_profile.first_name",
    "fee.amount_minor": "merchant_reference",  # the pickup terms between the two merchants
    "fee.currency": "merchant_reference",
})
PARCEL_EVENT = register_payload_kind("federation.parcel_event", {
    "message_id": "order_reference",
    "type": "fulfillment_status",
    "parcel_id": "order_reference",
    "at": "fulfillment_status",
    "location_id": "location",
})
PARCEL_SETTLEMENT = register_payload_kind("federation.parcel_settlement", {
    "settlement.entry_id": "order_reference",
    "settlement.kind": "order_reference",
    "settlement.amount_minor": "basket_total",
    "settlement.currency": "basket_total",
    "settlement.reference": "order_reference",
})
PICKUP_LOCATIONS = register_payload_kind("federation.pickup_locations", {
    "locations[].id": "location",
    "locations[].name": "location",
    "locations[].address": "location",
    "locations[].latitude": "location",
    "locations[].longitude": "location",
    "locations[].timezone": "location",
    "locations[].opening_hours": "location",
    "fee.amount_minor": "merchant_reference",
    "fee.currency": "merchant_reference",
    "merchant": "merchant_reference",
})
PARCEL_STATUS = register_payload_kind("federation.parcel_status", {
    "parcel_id": "order_reference",
    "remote_parcel_id": "order_reference",
    "order_reference": "order_reference",
    "status": "fulfillment_status",
    "parcel_count": "fulfillment_status",
    "ready_at": "fulfillment_status",
    "handed_over_at": "fulfillment_status",
})

PARCEL_EVENT_TYPES = ("parcel.ready", "parcel.handed_over", "parcel.cancelled")


class ProtocolError(ValueError):
    pass


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes that are signed and sent."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


# --- link invitation tokens -------------------------------------------------------------

@dataclass(frozen=True)
class Invitation:
    instance_url: str
    key_id: str
    public_key: str
    capabilities: list[str]
    nonce: str
    expires_at: int  # unix seconds
    merchant: dict[str, Any]
    terms: dict[str, Any]

    def as_claims(self) -> dict[str, Any]:
        return {"v": PROTOCOL_VERSION, "instance_url": self.instance_url, "key_id": self.key_id,
                "public_key": self.public_key, "capabilities": self.capabilities, "nonce": self.nonce,
                "expires_at": self.expires_at, "merchant": self.merchant, "terms": self.terms,
                "handshake_url": self.instance_url.rstrip("/") + API_PREFIX + "/handshake"}


def encode_invitation(invitation: Invitation, *, private_key: bytes) -> str:
    """`oaofed1.<base64url(JSON claims)>.<base64url(Ed25519 signature of "oaofed1.<claims part>")>`."""
    if public_key_of(private_key) != invitation.public_key:
        raise ProtocolError("The invitation must carry the public key of the key that signs it.")
    body = b64url(canonical_json(invitation.as_claims()))
    signed = f"{TOKEN_PREFIX}.{body}"
    return f"{signed}.{b64url(sign_bytes(private_key, signed.encode()))}"


def decode_invitation(token: str, *, now: int) -> Invitation:
    """The invitation, once its signature (by the key it carries) and expiry are checked."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise ProtocolError("Not an OAO federation invitation (expected oaofed1.<claims>.<signature>).")
    try:
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError as exc:
        raise ProtocolError("The invitation is not valid base64url JSON.") from exc
    if not isinstance(claims, dict) or claims.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"Unsupported invitation version {claims.get('v') if isinstance(claims, dict) else None}.")
    try:
        invitation = Invitation(
            instance_url=str(claims["instance_url"]).rstrip("/"), key_id=str(claims["key_id"]),
            public_key=str(claims["public_key"]), capabilities=[str(c) for c in claims["capabilities"]],
            nonce=str(claims["nonce"]), expires_at=int(claims["expires_at"]), merchant=dict(claims["merchant"]),
            terms=dict(claims.get("terms") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"The invitation misses or mistypes {exc}.") from exc
    try:
        genuine = verify_bytes(invitation.public_key, signature, f"{parts[0]}.{parts[1]}".encode())
    except SignatureError as exc:
        raise ProtocolError(str(exc)) from exc
    if not genuine:
        raise ProtocolError("The invitation's signature does not match its content.")
    if not invitation.instance_url.startswith(("http://", "https://")):
        raise ProtocolError("The invitation's instance_url must be an http(s) URL.")
    if invitation.expires_at < now:
        raise ProtocolError("The invitation has expired; ask the partner for a new one.")
    return invitation


# --- pickup codes -------------------------------------------------------------------------

PICKUP_HASH_ITERATIONS = 60_000
_MIN_ITER, _MAX_ITER = 10_000, 1_000_000


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_pickup_code(code: str, *, salt: bytes | None = None, iterations: int = PICKUP_HASH_ITERATIONS) -> str:
    """`pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64url): the pickup point can check a code it is
    shown, but cannot cheaply enumerate the 31^8 codes to learn it in advance."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", normalise_code(code).encode(), salt, iterations)
    return f"pbkdf2-sha256${iterations}${b64url(salt)}${b64url(digest)}"


def check_pickup_code(code: str, encoded: str) -> bool:
    try:
        scheme, iterations_text, salt_text, digest_text = encoded.split("$")
        iterations = int(iterations_text)
        salt, expected = b64url_decode(salt_text), b64url_decode(digest_text)
    except ValueError:
        return False
    if scheme != "pbkdf2-sha256" or not _MIN_ITER <= iterations <= _MAX_ITER:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", normalise_code(code).encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


def valid_code_hash(encoded: str) -> bool:
    parts = encoded.split("$")
    return (len(parts) == 4 and parts[0] == "pbkdf2-sha256" and parts[1].isdigit()
            and _MIN_ITER <= int(parts[1]) <= _MAX_ITER)


def first_name(full_name: str) -> str:
    """What a pickup counter needs to greet the shopper: the first word of the name."""
    words = full_name.split()
    return words[0] if words else ""
