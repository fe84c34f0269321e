"""Pairwise member references: what a merchant knows a member by.

A ref is the member id encrypted deterministically (AES-SIV) under a key
derived from the network secret and the merchant id. So it is stable for one
merchant, unrelated between two merchants (they cannot correlate a shopper),
and it decrypts back to the member without a lookup table; a ref forged or
issued to another merchant fails authentication and resolves to nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

PREFIX = "mr_"
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # oao.core.ids
_ID_BODY_LEN = 26


def _cipher(secret: str, merchant_id: str) -> AESSIV:
    key = hmac.new(secret.encode(), f"oao-member-ref:{merchant_id}".encode(), hashlib.sha512).digest()
    return AESSIV(key)


def _pack(member_id: str) -> bytes:
    """Ids from core.ids pack into 17 bytes (shorter refs); anything else is kept as text."""
    prefix, _, body = member_id.partition("_")
    if prefix == "mem" and len(body) == _ID_BODY_LEN and all(ch in _ID_ALPHABET for ch in body):
        value = 0
        for ch in body:
            value = value * 32 + _ID_ALPHABET.index(ch)
        return b"\x01" + value.to_bytes(17, "big")
    return b"\x00" + member_id.encode()


def _unpack(data: bytes) -> str | None:
    if data[:1] == b"\x01" and len(data) == 18:
        value = int.from_bytes(data[1:], "big")
        chars = [_ID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(_ID_BODY_LEN))]
        return "mem_" + "".join(chars)
    if data[:1] == b"\x00":
        try:
            return data[1:].decode()
        except UnicodeDecodeError:
            return None
    return None


def member_ref(*, secret: str, merchant_id: str, member_id: str) -> str:
    """The member's reference as seen by this merchant."""
    sealed = _cipher(secret, merchant_id).encrypt(_pack(member_id), [merchant_id.encode()])
    return PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def member_id_from_ref(*, secret: str, merchant_id: str, ref: str) -> str | None:
    """The member id behind a ref issued to this merchant, or None."""
    if not ref.startswith(PREFIX) or len(ref) > 200:
        return None
    raw = ref[len(PREFIX):]
    try:
        sealed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        return _unpack(_cipher(secret, merchant_id).decrypt(sealed, [merchant_id.encode()]))
    except (ValueError, InvalidTag):
        return None
