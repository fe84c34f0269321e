"""Prefixed, time-sortable identifiers (`ord_01J…`), never reused.

A ULID-style body: 48 bits of milliseconds then 80 random bits, in Crockford
base32, so ids sort by creation time and are safe to expose.
"""

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return a new id such as `loc_01jc9…`, sortable by creation time."""
    millis = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode(millis, 10)}{_encode(rand, 16)}"
