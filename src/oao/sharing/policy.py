"""Policy evaluation and the outbound projection, as pure functions.

A policy document, in the spirit of W3C ODRL:
    {"permissions":  [{"data_class": str, "purposes": [str]}],
     "prohibitions": [{"data_class": str, "purposes": [str] | null}],   # null: every purpose
     "constraints":  {"min_group_size": int}}
A class may leave for a purpose only when some permission covers it for that
purpose and no prohibition covers it for that purpose: deny by default, and a
prohibition always wins over a permission.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from oao.sharing.classes import (
    PURPOSES,
    UNCLASSIFIED,
    PayloadKind,
    is_rule_class,
    rule_covers,
)

DEFAULT_MIN_GROUP_SIZE = 20  # k: smallest group of distinct members an aggregate may describe


class PolicyError(ValueError):
    """A policy document that does not follow the vocabulary; `errors` lists each problem."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["msg"] for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    data_class: str
    purposes: frozenset[str] | None  # None: every purpose (prohibitions only)


@dataclass(frozen=True)
class Policy:
    permissions: tuple[Rule, ...] = ()
    prohibitions: tuple[Rule, ...] = ()
    min_group_size: int | None = None

    def allows(self, data_class: str, purpose: str) -> bool:
        for rule in self.prohibitions:
            if rule_covers(rule.data_class, data_class) and (rule.purposes is None or purpose in rule.purposes):
                return False
        return any(rule_covers(rule.data_class, data_class) and rule.purposes is not None
                   and purpose in rule.purposes for rule in self.permissions)

    def to_document(self) -> dict[str, Any]:
        return {
            "permissions": [{"data_class": r.data_class, "purposes": sorted(r.purposes or ())}
                            for r in self.permissions],
            "prohibitions": [{"data_class": r.data_class,
                              "purposes": None if r.purposes is None else sorted(r.purposes)}
                             for r in self.prohibitions],
            "constraints": {} if self.min_group_size is None else {"min_group_size": self.min_group_size},
        }


EMPTY = Policy()


def check_purpose(purpose: str, loc: Iterable[str | int] = ("purpose",)) -> None:
    if purpose not in PURPOSES:
        raise PolicyError([{"loc": list(loc), "msg": f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}"}])


def parse_policy(document: dict[str, Any] | None) -> Policy:
    """Validate a policy document against the vocabulary and build a Policy (PolicyError lists every fault)."""
    if not document:
        return EMPTY
    errors: list[dict[str, Any]] = []

    def rules(key: str, purposes_required: bool) -> tuple[Rule, ...]:
        out = []
        items = document.get(key) or []
        if not isinstance(items, list):
            errors.append({"loc": [key], "msg": f"{key} must be a list"})
            return ()
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                errors.append({"loc": [key, i], "msg": "each rule is an object"})
                continue
            data_class = item.get("data_class")
            if not isinstance(data_class, str) or not is_rule_class(data_class):
                errors.append({"loc": [key, i, "data_class"], "msg": f"unknown data class {data_class!r}"})
                continue
            purposes = item.get("purposes")
            if purposes is None and not purposes_required:
                out.append(Rule(data_class, None))
                continue
            if not isinstance(purposes, list) or (purposes_required and not purposes):
                errors.append({"loc": [key, i, "purposes"], "msg": "purposes must be a non-empty list"})
                continue
            bad = [p for p in purposes if p not in PURPOSES]
            if bad:
                errors.append({"loc": [key, i, "purposes"],
                               "msg": f"unknown purpose(s) {', '.join(map(repr, bad))}; known: {', '.join(PURPOSES)}"})
                continue
            out.append(Rule(data_class, frozenset(purposes)))
        return tuple(out)

    permissions = rules("permissions", True)
    prohibitions = rules("prohibitions", False)
    k = (document.get("constraints") or {}).get("min_group_size")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        errors.append({"loc": ["constraints", "min_group_size"], "msg": "min_group_size must be a positive integer"})
    unknown = set(document) - {"permissions", "prohibitions", "constraints"}
    if unknown:
        errors.append({"loc": sorted(unknown), "msg": f"unknown policy keys {sorted(unknown)}"})
    if errors:
        raise PolicyError(errors)
    return Policy(permissions, prohibitions, k)


def combine(*layers: Policy) -> Policy:
    """Stack policies (network baseline, kind default, per-recipient): permissions add up, every
    prohibition of every layer still wins, and the strictest group size holds."""
    ks = [p.min_group_size for p in layers if p.min_group_size is not None]
    return Policy(tuple(r for p in layers for r in p.permissions),
                  tuple(r for p in layers for r in p.prohibitions),
                  max(ks) if ks else None)


def effective_min_group_size(policy: Policy, floor: int = DEFAULT_MIN_GROUP_SIZE) -> int:
    """A policy may raise k above the network's floor, never lower it."""
    return max(floor, policy.min_group_size or 0)


@dataclass
class Projection:
    payload: dict[str, Any]
    sent: set[str] = field(default_factory=set)
    withheld: set[str] = field(default_factory=set)
    unclassified: set[str] = field(default_factory=set)  # paths dropped because no class covers them


_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


def _path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def project(payload: dict[str, Any], kind: PayloadKind | None, policy: Policy, purpose: str) -> Projection:
    """Keep only the fields whose class the policy permits for the purpose; drop unclassified ones.

    An unregistered kind (None) sends nothing. Containers left empty by the
    projection are dropped too, so a withheld list does not leave as `[]`.
    """
    result = Projection(payload={})
    if kind is None:
        if payload:
            result.unclassified.add("*")
        return result

    def walk(value: Any, path: str) -> tuple[bool, Any]:
        data_class = kind.class_of(path) if path else None
        if data_class is not None:
            if policy.allows(data_class, purpose):
                result.sent.add(data_class)
                return True, value
            result.withheld.add(data_class)
            return False, None
        if isinstance(value, dict):
            kept = {}
            for key, sub in value.items():
                if not isinstance(key, str) or not _KEY.match(key):
                    result.unclassified.add(_path(path, "?"))  # a key no path could name is never sent
                    continue
                ok, out = walk(sub, _path(path, str(key)))
                if ok:
                    kept[key] = out
            return (bool(kept) or not path), kept
        if isinstance(value, list):
            items = []
            for sub in value:
                ok, out = walk(sub, path + "[]")
                if ok:
                    items.append(out)
            return bool(items), items
        result.unclassified.add(path)
        return False, None

    _, result.payload = walk(payload, "")
    return result


def describe_unclassified(paths: set[str]) -> list[str]:
    return sorted(paths) if paths else []


__all__ = ["DEFAULT_MIN_GROUP_SIZE", "EMPTY", "UNCLASSIFIED", "Policy", "PolicyError", "Projection", "Rule",
           "check_purpose", "combine", "effective_min_group_size", "parse_policy", "project"]
