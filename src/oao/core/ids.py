"""Prefixed, time-sortable identifiers (`ord_01J…`), never reused.

A ULID-style body: 48 bits of milliseconds then 80 random bits, in Crockford
base32, so ids sort by creation time and are safe to expose. Within one
process ids are also monotonic (a second id in the same millisecond adds one
to the random part), so events written in one transaction keep their order.
"""

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of the previous id


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return a new id such as `loc_01jc9…`, sortable by creation time."""
    global _last
    with _lock:
        millis = int(time.time() * 1000)
        last_millis, last_rand = _last
        if millis <= last_millis:
            millis, rand = last_millis, (last_rand + 1) % (1 << 80)
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # headroom for increments
        _last = (millis, rand)
    return f"{prefix}_{_encode(millis, 10)}{_encode(rand, 16)}"
