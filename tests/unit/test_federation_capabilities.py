"""Capability levels: each side offers what it supports, the link gets what both offer."""

from __future__ import annotations

import pytest

from oao.federation import capabilities as caps


def test_the_link_gets_the_intersection_in_level_order():
    ours = ["pickup", "order_handoff", "points_settlement"]
    theirs = ["order_handoff", "stock_visibility", "pickup"]
    assert caps.negotiate(ours, theirs) == ["order_handoff", "pickup"]


def test_without_order_handoff_on_both_sides_nothing_is_negotiated():
    assert caps.negotiate(["order_handoff", "pickup"], ["pickup"]) == []


def test_levels_a_newer_partner_knows_are_ignored():
    assert caps.negotiate(["order_handoff"], ["order_handoff", "teleportation"]) == ["order_handoff"]


def test_an_offer_is_normalised_and_limited_to_what_this_instance_supports():
    assert caps.normalise(["pickup", "order_handoff", "pickup"]) == ["order_handoff", "pickup"]
    with pytest.raises(caps.CapabilityError, match="needs member_recognition"):
        caps.normalise(["order_handoff", "points_settlement"])
    with pytest.raises(caps.CapabilityError, match="Unknown"):
        caps.normalise(["order_handoff", "everything"])


def test_richer_levels_are_allowed_only_when_negotiated():
    assert caps.allows(["order_handoff", "pickup"], "pickup")
    assert not caps.allows(["order_handoff"], "pickup")


def test_richer_levels_are_served_but_opted_into():
    assert set(caps.DEFAULT_OFFER) == {"order_handoff", "pickup"}
    assert caps.normalise(["member_recognition", "stock_visibility", "order_handoff"]) == [
        "order_handoff", "stock_visibility", "member_recognition"]
    assert "points_settlement" in caps.SUPPORTED and "points_settlement" not in caps.DEFAULT_OFFER
