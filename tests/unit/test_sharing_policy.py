"""S4: what may leave is decided by one policy evaluation and one projection. Deny by default,
prohibitions win, unclassified fields never leave, and the disclosure names exactly what was sent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oao.sharing import kinds
from oao.sharing.classes import (
    DATA_CLASSES,
    PURPOSES,
    PayloadKind,
    register_payload_kind,
    registered_kinds,
)
from oao.sharing.grouping import SaleFact, group_counts
from oao.sharing.policy import (
    DEFAULT_MIN_GROUP_SIZE,
    Policy,
    PolicyError,
    combine,
    effective_min_group_size,
    parse_policy,
    project,
)

CLASSES = sorted(DATA_CLASSES)
PURPOSE_NAMES = sorted(PURPOSES)


def policy(permissions=(), prohibitions=(), k=None) -> Policy:
    doc: dict[str, Any] = {"permissions": [{"data_class": c, "purposes": list(p)} for c, p in permissions],
                           "prohibitions": [{"data_class": c, "purposes": None if p is None else list(p)}
                                            for c, p in prohibitions]}
    if k is not None:
        doc["constraints"] = {"min_group_size": k}
    return parse_policy(doc)


# --- evaluation --------------------------------------------------------------------------------------------

def test_nothing_is_allowed_without_a_permission():
    assert not Policy().allows("basket_total", "payment")
    assert not policy([("basket_total", ["payment"])]).allows("basket_total", "marketing")
    assert not policy([("basket_total", ["payment"])]).allows("line_items", "payment")


def test_a_permission_allows_its_class_for_its_purposes_only():
    p = policy([("line_items", ["analytics", "fulfillment"])])
    assert p.allows("line_items", "analytics") and p.allows("line_items", "fulfillment")
    assert not p.allows("line_items", "marketing")


def test_a_prohibition_wins_over_a_permission_for_the_purposes_it_names():
    p = policy([("line_items", ["analytics", "marketing"])], [("line_items", ["marketing"])])
    assert p.allows("line_items", "analytics")
    assert not p.allows("line_items", "marketing")


def test_a_prohibition_without_purposes_forbids_every_purpose():
    p = policy([("basket_total", PURPOSE_NAMES)], [("basket_total", None)])
    assert not any(p.allows("basket_total", purpose) for purpose in PURPOSE_NAMES)


def test_a_rule_on_member_profile_covers_every_profile_field():
    p = policy([("member_profile", ["fulfillment"])], [("member_profile.email", None)])
    assert p.allows("member_profile.first_name", "fulfillment")
    assert not p.allows("member_profile.email", "fulfillment")
    assert not p.allows("member_reference", "fulfillment")  # a prefix of the name is not a family


def test_layers_add_permissions_and_keep_every_prohibition():
    base = policy([("basket_total", ["payment"])])
    specific = policy([("line_items", ["analytics"])], [("basket_total", ["payment"])], k=50)
    both = combine(base, specific)
    assert both.allows("line_items", "analytics")
    assert not both.allows("basket_total", "payment")
    assert both.min_group_size == 50


def test_a_policy_may_raise_k_but_never_below_the_network_floor():
    assert effective_min_group_size(policy(k=5)) == DEFAULT_MIN_GROUP_SIZE == 20
    assert effective_min_group_size(policy(k=40)) == 40
    assert effective_min_group_size(Policy(), floor=30) == 30


@pytest.mark.parametrize("doc, where", [
    ({"permissions": [{"data_class": "line_items", "purposes": ["resale"]}]}, ["permissions", 0, "purposes"]),
    ({"permissions": [{"data_class": "shoe_size", "purposes": ["payment"]}]}, ["permissions", 0, "data_class"]),
    ({"permissions": [{"data_class": "line_items", "purposes": []}]}, ["permissions", 0, "purposes"]),
    ({"prohibitions": [{"data_class": "line_items", "purposes": ["nope"]}]}, ["prohibitions", 0, "purposes"]),
    ({"constraints": {"min_group_size": 0}}, ["constraints", "min_group_size"]),
    ({"permission": []}, ["permission"]),
])
def test_unknown_vocabulary_is_refused_naming_the_place(doc, where):
    with pytest.raises(PolicyError) as err:
        parse_policy(doc)
    assert err.value.errors[0]["loc"] == where


def test_a_document_round_trips():
    doc = {"permissions": [{"data_class": "aggregated_stats", "purposes": ["analytics", "recommendation"]}],
           "prohibitions": [{"data_class": "member_profile", "purposes": None}],
           "constraints": {"min_group_size": 25}}
    assert parse_policy(doc).to_document() == doc


# --- the projection ---------------------------------------------------------------------------------------

ORDER = PayloadKind("test.order", {"id": "order_reference", "total": "basket_total", "lines[].gtin": "line_items",
                                   "lines[].qty": "line_items", "customer.first_name": "member_profile.first_name",
                                   "meta": "location"})


def test_projection_keeps_permitted_drops_withheld_and_unclassified():
    payload = {"id": "o1", "total": 500, "lines": [{"gtin": "123", "qty": 1, "secret": "x"}],
               "customer": {"first_name": "Mei", "phone": "138"}, "note": "hello", "meta": {"any": {"thing": 1}}}
    out = project(payload, ORDER, policy([("order_reference", ["fulfillment"]),
                                          ("member_profile", ["fulfillment"]), ("location", ["fulfillment"])]),
                  "fulfillment")
    assert out.payload == {"id": "o1", "customer": {"first_name": "Mei"}, "meta": {"any": {"thing": 1}}}
    assert out.sent == {"order_reference", "member_profile.first_name", "location"}
    assert out.withheld == {"basket_total", "line_items"}
    assert out.unclassified == {"customer.phone", "note", "lines[].secret"}


def test_an_unregistered_kind_sends_nothing():
    out = project({"a": 1}, None, policy([(c, PURPOSE_NAMES) for c in CLASSES]), "payment")
    assert out.payload == {} and out.sent == set()


def test_keys_that_look_like_paths_are_never_sent():
    out = project({"lines[].gtin": "1", "customer.first_name": "Mei"}, ORDER,
                  policy([(c, PURPOSE_NAMES) for c in CLASSES]), "payment")
    assert out.payload == {}


def test_the_provider_order_kind_has_no_path_for_lines_or_products():
    fields = kinds.PAYMENT_PROVIDER_ORDER.fields
    assert set(fields) == {"out_trade_no", "amount_minor", "currency", "merchant_id", "store_id", "expires_at"}
    assert "line_items" not in fields.values() and "product_sales" not in fields.values()
    everything = policy([(c, PURPOSE_NAMES) for c in CLASSES])
    out = project({"out_trade_no": "n", "amount_minor": 1, "currency": "CNY", "merchant_id": "m", "store_id": None,
                   "expires_at": "t", "lines": [{"gtin": "6901234567892", "title": "tea"}], "gtin": "1",
                   "product_id": "p"}, kinds.PAYMENT_PROVIDER_ORDER, everything, "payment")
    assert set(out.payload) == {"out_trade_no", "amount_minor", "currency", "merchant_id", "store_id", "expires_at"}


def test_every_registered_field_names_a_known_class_and_a_kind_cannot_be_redefined():
    for kind in registered_kinds().values():
        assert set(kind.fields.values()) <= DATA_CLASSES
    register_payload_kind("payment.provider_order", dict(kinds.PAYMENT_PROVIDER_ORDER.fields))  # same: fine
    with pytest.raises(ValueError):
        register_payload_kind("payment.provider_order", {"lines": "line_items"})
    with pytest.raises(ValueError):
        register_payload_kind("test.bad", {"x": "not_a_class"})


def test_outbox_events_used_for_webhooks_are_registered():
    names = registered_kinds()
    for event_type in ("order.completed", "order.cancelled", "order.returned", "payment.succeeded",
                       "fulfillment.ready_for_pickup", "transfer.shipped", "pos.sale_recorded", "offer.updated",
                       "stock.adjusted", "partner_agreement.accepted", "member.consent_granted"):
        assert f"event:{event_type}" in names
    assert {"federation:order_handoff", "federation:order_status", "aggregated_stats"} <= set(names)


# --- property tests: random policies and payloads ---------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d", "e", "lines", "x"])
purpose_sets = st.lists(st.sampled_from(PURPOSE_NAMES), min_size=1, max_size=3, unique=True)
permissions = st.lists(st.tuples(st.sampled_from(CLASSES + ["member_profile"]), purpose_sets), max_size=8)
prohibitions = st.lists(st.tuples(st.sampled_from(CLASSES + ["member_profile"]),
                                  st.none() | purpose_sets), max_size=4)
leaf = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans())
values = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
                      max_leaves=20)
payloads = st.dictionaries(KEYS, values, max_size=6)


@st.composite
def kind_for(draw) -> PayloadKind:
    """A registration classifying random paths (some of which the payload will not have, and vice versa)."""
    paths = draw(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "lines", "lines[]", "x", "x[]"]),
                                   min_size=1, max_size=3).map(".".join), max_size=8, unique=True))
    return PayloadKind("prop", {p: draw(st.sampled_from(CLASSES)) for p in paths})


def leaves(value: Any, path: str = "") -> list[str]:
    """Every leaf path of a projected payload (empty containers count as a leaf)."""
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in leaves(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list) and value:
        return [p for v in value for p in leaves(v, path + "[]")]
    return [path]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=kind_for(), perms=permissions, prohibs=prohibitions, purpose=st.sampled_from(PURPOSE_NAMES),
       payload=payloads)
def test_projection_never_leaks(kind, perms, prohibs, purpose, payload):
    p = policy(perms, prohibs)
    out = project(payload, kind, p, purpose)
    classes_seen = set()
    for path in leaves(out.payload):
        if not path:
            continue  # the empty top-level payload
        data_class = kind.class_of(path)
        # unknown fields never leave: every leaf sits under a registered path
        assert data_class is not None, path
        # nothing leaves whose class is not permitted for that purpose
        assert p.allows(data_class, purpose)
        # prohibitions always win
        assert not any(r.data_class == data_class or data_class.startswith(r.data_class + ".")
                       for r in p.prohibitions if r.purposes is None or purpose in r.purposes)
        classes_seen.add(data_class)
    # the disclosure lists exactly the classes sent
    assert out.sent == classes_seen
    assert not (out.sent & out.withheld)
    assert all(not p.allows(c, purpose) for c in out.withheld)


@settings(max_examples=200, deadline=None)
@given(payload=payloads, purpose=st.sampled_from(PURPOSE_NAMES), kind=kind_for())
def test_deny_by_default_sends_nothing(payload, purpose, kind):
    out = project(payload, kind, Policy(), purpose)
    assert out.payload == {} and out.sent == set()


@settings(max_examples=200, deadline=None)
@given(kind=kind_for(), perms=permissions, purpose=st.sampled_from(PURPOSE_NAMES), payload=payloads)
def test_prohibiting_every_class_sends_nothing_whatever_is_permitted(kind, perms, purpose, payload):
    p = policy(perms, [(c, None) for c in CLASSES])
    assert project(payload, kind, p, purpose).payload == {}


# --- groups of at least k members -------------------------------------------------------------------------

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["A", "B", "C"]), st.integers(1, 5)), max_size=120),
       st.integers(1, 10))
def test_no_group_smaller_than_k_members_is_reported(rows, k):
    facts = [SaleFact(member_id=f"m{m}", brand=b, category="c", quantity=q, location_id=None, birth_year=None,
                      gender=None) for m, b, q in rows]
    groups, suppressed = group_counts(facts, group_by=["brand"], k=k, now=NOW)
    for g in groups:
        members = {f.member_id for f in facts if f.brand == g["key"]["brand"]}
        assert g["members"] == len(members) >= k
    assert len(groups) + suppressed == len({f.brand for f in facts})


def test_members_without_a_value_for_a_dimension_are_left_out_not_grouped_as_unknown():
    facts = [SaleFact(f"m{i}", "A", "c", 1, None, None if i % 2 else 2003, None) for i in range(40)]
    groups, _ = group_counts(facts, group_by=["age_band"], k=5, now=NOW)
    assert groups == [{"key": {"age_band": "18-24"}, "members": 20, "units": 20}]
