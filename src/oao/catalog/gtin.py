"""GTIN-8/12/13/14 validation (GS1 mod-10 check digit) and normalisation."""

from __future__ import annotations

VALID_LENGTHS = (8, 12, 13, 14)


class InvalidGtin(ValueError):
    pass


def check_digit(body: str) -> int:
    """GS1 check digit for the digits before it (weights 3,1,3,… from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def validate_gtin(raw: str) -> str:
    """Return the GTIN stripped of spaces if valid, else raise InvalidGtin saying why."""
    code = str(raw).strip().replace(" ", "").replace("-", "")
    if not code:
        raise InvalidGtin("GTIN is empty; a GTIN has 8, 12, 13 or 14 digits")
    if not code.isdigit():
        raise InvalidGtin(f"GTIN {raw!r} must contain digits only")
    if len(code) not in VALID_LENGTHS:
        raise InvalidGtin(f"GTIN {raw!r} has {len(code)} digits; a GTIN has 8, 12, 13 or 14")
    expected = check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise InvalidGtin(f"GTIN {raw!r} has check digit {code[-1]}, expected {expected}")
    return code


def normalise_gtin(raw: str) -> str:
    """The 14-digit form used for lookups, so EAN-13 and UPC-A scans find the same product."""
    return validate_gtin(raw).zfill(14)
