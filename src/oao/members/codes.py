"""Member codes: the short one-time code a shopper shows at a kiosk or till, and its images.

A code is 18 characters of Crockford base32 (digits and uppercase letters
without I, L, O, U), so Code 128 scanners typing into a till read it as-is:

    NNNN  RRRRRRRRRR  MMMM
    network  random   MAC

The network tag comes from the network's public URL, so a till can tell a code
of another OAO network from a mistyped one; the MAC (HMAC with the network's
secret) catches tampering before the database is asked. Validity and single
use are the database's job (see service.redeem_member_code).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from enum import StrEnum

import segno
from barcode import Code128
from barcode.writer import ImageWriter, SVGWriter

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NETWORK_LEN, RANDOM_LEN, MAC_LEN = 4, 10, 4
CODE_LEN = NETWORK_LEN + RANDOM_LEN + MAC_LEN


class CodeFault(StrEnum):
    MALFORMED = "malformed"
    OTHER_NETWORK = "other_network"
    TAMPERED = "tampered"


def _b32(data: bytes, length: int) -> str:
    value = int.from_bytes(data, "big")
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(length)))


def network_tag(public_url: str) -> str:
    """Four characters naming the network (derived from its public URL, so public by design)."""
    digest = hashlib.sha256(public_url.rstrip("/").lower().encode()).digest()
    return _b32(digest[:3], NETWORK_LEN)


def _mac(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"oao-member-code:{body}".encode(), hashlib.sha256).digest()
    return _b32(digest[:3], MAC_LEN)


def new_member_code(*, network: str, secret: str) -> str:
    """A fresh random code of this network."""
    body = network + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LEN))
    return body + _mac(secret, body)


def normalise(code: str) -> str:
    """What a scanner or a person typed, without spaces or dashes, in uppercase."""
    return "".join(ch for ch in code.strip().upper() if ch not in " -")


def check_member_code(code: str, *, network: str, secret: str) -> CodeFault | None:
    """None when the code is well formed, of this network and untampered; else why not."""
    if len(code) != CODE_LEN or any(ch not in ALPHABET for ch in code):
        return CodeFault.MALFORMED
    if code[:NETWORK_LEN] != network:
        return CodeFault.OTHER_NETWORK
    if not hmac.compare_digest(code[-MAC_LEN:], _mac(secret, code[:-MAC_LEN])):
        return CodeFault.TAMPERED
    return None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


# --- images ------------------------------------------------------------------------------

def qr_image(code: str, fmt: str) -> bytes:
    """The code as a QR symbol, `svg` or `png`."""
    qr = segno.make_qr(code, error="m")
    buffer = io.BytesIO()
    if fmt == "svg":
        qr.save(buffer, kind="svg", scale=8, border=4, title=f"Member code {code}")
    else:
        qr.save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def barcode_image(code: str, fmt: str) -> bytes:
    """The code as a Code 128 barcode, `svg` or `png`."""
    writer = SVGWriter() if fmt == "svg" else ImageWriter()
    buffer = io.BytesIO()
    Code128(code, writer=writer).write(buffer, options={"module_height": 12.0, "quiet_zone": 6.0,
                                                        "font_size": 8, "text_distance": 4.0})
    return buffer.getvalue()
