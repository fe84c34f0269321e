"""The terms of a partner agreement: their checks and the shapes lookups return.

Pure: no database. The terms document (one per agreement version) is

    {"pickup":   {"host_merchant_id", "fee_minor", "currency"} | None,
     "referral": {"referrer_merchant_id", "commission_bps"} | None,
     "points":   {"acceptor_merchant_id", "issuer_programme_id", "value_minor", "value_points"} | None,
     "data_sharing": {"permissions": [...], "prohibitions": [...], "constraints": {...}} | None}

Every merchant a term names must be one of the two parties, so an agreement
can never commit a third merchant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oao.core.errors import InvalidInput
from oao.core.money import is_currency

TERM_NAMES = ("pickup", "referral", "points", "data_sharing")
MAX_COMMISSION_BPS = 5000  # 50 %: above that a "referral" is really a resale and needs another contract
MAX_AMOUNT = 10**12  # far above any real fee or points rate; keeps integers inside BIGINT


@dataclass(frozen=True)
class PickupTerms:
    """The host's partner pickup points accept the guest's orders for fee_minor per parcel."""

    agreement_id: str
    version: int
    host_merchant_id: str
    guest_merchant_id: str
    fee_minor: int
    currency: str


@dataclass(frozen=True)
class ReferralTerms:
    """The referrer may sell the seller's products and earns commission_bps of the sale."""

    agreement_id: str
    version: int
    referrer_merchant_id: str
    seller_merchant_id: str
    commission_bps: int


@dataclass(frozen=True)
class PointsTerms:
    """The acceptor takes the issuer programme's points: value_points points pay value_minor."""

    agreement_id: str
    version: int
    acceptor_merchant_id: str
    issuer_merchant_id: str
    issuer_programme_id: str
    value_minor: int
    value_points: int


def other_party(parties: tuple[str, str], merchant_id: str) -> str:
    return parties[1] if merchant_id == parties[0] else parties[0]


def _object(value: Any, where: str, keys: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"terms.{where} must be an object or null.")
    unknown = set(value) - keys
    if unknown:
        raise InvalidInput(f"terms.{where} has unknown fields: {', '.join(sorted(unknown))}.")
    missing = required - set(value)
    if missing:
        raise InvalidInput(f"terms.{where} needs {', '.join(sorted(missing))}.")
    return value


def _int(value: Any, where: str, *, low: int, high: int = MAX_AMOUNT) -> int:
    # bool is an int in Python; a fee of True is a client bug, not 1 fen.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"terms.{where} must be a whole number, got {value!r}.")
    if value < low:
        raise InvalidInput(f"terms.{where} cannot be {'negative' if low == 0 else f'below {low}'}, got {value}.")
    if value > high:
        raise InvalidInput(f"terms.{where} cannot exceed {high}, got {value}.")
    return value


def _party(value: Any, where: str, parties: tuple[str, str]) -> str:
    if value not in parties:
        raise InvalidInput(f"terms.{where} {value!r} is not a party to this agreement "
                           f"(the parties are {parties[0]} and {parties[1]}).")
    return str(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"terms.{where} must be a non-empty string.")
    return value


def _rules(value: Any, where: str, *, purposes_may_be_null: bool) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidInput(f"terms.data_sharing.{where} must be a list.")
    out = []
    for i, rule in enumerate(value):
        rule = _object(rule, f"data_sharing.{where}[{i}]", {"data_class", "purposes"}, {"data_class"})
        purposes = rule.get("purposes")
        if purposes is None and not purposes_may_be_null:
            raise InvalidInput(f"terms.data_sharing.{where}[{i}].purposes must list the purposes permitted.")
        if purposes is not None and (not isinstance(purposes, list)
                                     or not all(isinstance(p, str) and p.strip() for p in purposes)):
            raise InvalidInput(f"terms.data_sharing.{where}[{i}].purposes must be a list of purpose names.")
        out.append({"data_class": _text(rule["data_class"], f"data_sharing.{where}[{i}].data_class"),
                    "purposes": None if purposes is None else list(purposes)})
    return out


def check_terms(terms: Any, *, parties: tuple[str, str]) -> dict[str, Any]:
    """The terms normalised to all four keys, or InvalidInput (422) saying what is wrong."""
    if not isinstance(terms, dict):
        raise InvalidInput("terms must be an object with pickup, referral, points and data_sharing.")
    unknown = set(terms) - set(TERM_NAMES)
    if unknown:
        raise InvalidInput(f"terms has unknown fields: {', '.join(sorted(unknown))}; "
                           f"known: {', '.join(TERM_NAMES)}.")
    out: dict[str, Any] = dict.fromkeys(TERM_NAMES)
    if (pickup := terms.get("pickup")) is not None:
        pickup = _object(pickup, "pickup", {"host_merchant_id", "fee_minor", "currency"},
                         {"host_merchant_id", "fee_minor", "currency"})
        currency = pickup["currency"]
        if not isinstance(currency, str) or not is_currency(currency):
            raise InvalidInput(f"terms.pickup.currency {currency!r} is not a supported ISO 4217 code.")
        out["pickup"] = {"host_merchant_id": _party(pickup["host_merchant_id"], "pickup.host_merchant_id", parties),
                         "fee_minor": _int(pickup["fee_minor"], "pickup.fee_minor", low=0),
                         "currency": currency}
    if (referral := terms.get("referral")) is not None:
        referral = _object(referral, "referral", {"referrer_merchant_id", "commission_bps"},
                           {"referrer_merchant_id", "commission_bps"})
        out["referral"] = {
            "referrer_merchant_id": _party(referral["referrer_merchant_id"], "referral.referrer_merchant_id",
                                           parties),
            "commission_bps": _int(referral["commission_bps"], "referral.commission_bps", low=0,
                                   high=MAX_COMMISSION_BPS)}
    if (points := terms.get("points")) is not None:
        keys = {"acceptor_merchant_id", "issuer_programme_id", "value_minor", "value_points"}
        points = _object(points, "points", keys, keys)
        out["points"] = {
            "acceptor_merchant_id": _party(points["acceptor_merchant_id"], "points.acceptor_merchant_id", parties),
            "issuer_programme_id": _text(points["issuer_programme_id"], "points.issuer_programme_id"),
            "value_minor": _int(points["value_minor"], "points.value_minor", low=1),
            "value_points": _int(points["value_points"], "points.value_points", low=1)}
    if (sharing := terms.get("data_sharing")) is not None:
        sharing = _object(sharing, "data_sharing", {"permissions", "prohibitions", "constraints"}, set())
        constraints = sharing.get("constraints") or {}
        if not isinstance(constraints, dict) or set(constraints) - {"min_group_size"}:
            raise InvalidInput("terms.data_sharing.constraints may only hold min_group_size.")
        if "min_group_size" in constraints:
            constraints = {"min_group_size": _int(constraints["min_group_size"],
                                                  "data_sharing.constraints.min_group_size", low=1)}
        out["data_sharing"] = {
            "permissions": _rules(sharing.get("permissions", []), "permissions", purposes_may_be_null=False),
            "prohibitions": _rules(sharing.get("prohibitions", []), "prohibitions", purposes_may_be_null=True),
            "constraints": constraints}
    if all(value is None for value in out.values()):
        raise InvalidInput("An agreement needs at least one of pickup, referral, points or data_sharing.")
    return out
