"""Points across a link, the issuer's side: the partner names the member by the subject she
logged in with through this link (another link's or merchant's ref resolves to nothing),
the issuer holds network points at its own linked merchant under a hold id namespaced by
the link, and posting records one points funding entry merchant → partner; every step is
idempotent by the partner's hold id."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from oao.core.auth import Principal, Role
from oao.core.errors import InvalidInput, InvalidState, NotFound
from oao.federation import capabilities as caps
from oao.federation import points
from oao.federation.models import FederationLink
from oao.loyalty import service as loyalty
from oao.loyalty.transfers import InsufficientPoints
from oao.members import service as members
from oao.settlement.models import LedgerEntry
from tests import factories as f
from tests.conftest import T0
from tests.integration.test_federation_stock import _link

POINTS_CAPS = ("order_handoff", "member_recognition", "points_settlement")
ADMIN = Principal(kind="api_key", id="key_admin", name="operator", role=Role.NETWORK_ADMIN, merchant_id=None)


def _setup(db):
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
        link = _link(s, bakery, "fln_points", capabilities=POINTS_CAPS)
        other = _link(s, bakery, "fln_other", capabilities=POINTS_CAPS, remote="https://c.example")
        mei = members.sign_up(s, email="mei@example.com", phone=None, password="correct horse battery",
                              name="Mei", now=T0)
        programme = loyalty.network_programme(s)
        loyalty.grant_points(s, principal=ADMIN, grant_id="g1", member_id=mei.id, programme_id=programme.id,
                             points=1000, reason="welcome", now=T0)
        subject = members.member_ref_for(s, merchant_id=link.id, member_id=mei.id)
        return bakery.id, link.id, other.id, mei.id, subject


def _available(s, member_id):
    [balance] = loyalty.balances(s, member_id=member_id)
    return balance.available


def test_the_issuer_holds_posts_and_settles_points_for_the_partner(db):
    bakery, link_id, other_id, mei, subject = _setup(db)
    now = T0 + timedelta(minutes=1)
    with db.unit_of_work() as s:
        link = s.get(FederationLink, link_id)
        held = points.hold_for_partner(s, link=link, body={"hold_id": "h1", "member_subject": subject,
                                                           "amount_minor": 500, "currency": "CNY"}, now=now)
        assert (held["status"], held["points"], held["value_minor"]) == ("held", 500, 500)
        assert loyalty.get_hold(s, hold_id=points.local_hold_id(link_id, "h1")).accepting_merchant_id == bakery
        again = points.hold_for_partner(s, link=link, body={"hold_id": "h1", "member_subject": subject,
                                                            "points": 500}, now=now)
        assert again["hold_id"] == "h1" and _available(s, mei) == 500
        with pytest.raises(InsufficientPoints):
            points.hold_for_partner(s, link=link, body={"hold_id": "h2", "member_subject": subject,
                                                        "points": 501}, now=now)
    with db.unit_of_work() as s:
        link = s.get(FederationLink, link_id)
        posted = points.post_for_partner(s, link=link, hold_id="h1", body={"points": 300}, now=now)
        assert posted["entry"] == {"id": f"fed-points:{link_id}:h1", "kind": "points_funding",
                                   "amount_minor": 300, "currency": "CNY"}
        assert points.post_for_partner(s, link=link, hold_id="h1", body={"points": 300}, now=now) == posted
        with pytest.raises(InvalidState):
            points.void_for_partner(s, link=link, hold_id="h1", now=now)
    with db.read() as s:
        assert _available(s, mei) == 700
        [entry] = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "points_funding")).all()
        assert (entry.id, entry.debit_account, entry.credit_account, entry.amount_minor) == (
            f"fed-points:{link_id}:h1", f"merchant:{bakery}", f"partner:fed:{link_id}", 300)


def test_a_subject_is_only_known_through_its_own_link(db):
    bakery, link_id, other_id, mei, subject = _setup(db)
    with db.unit_of_work() as s:
        other = s.get(FederationLink, other_id)
        with pytest.raises(NotFound):
            points.hold_for_partner(s, link=other, body={"hold_id": "h1", "member_subject": subject, "points": 1},
                                    now=T0)
        bakery_ref = members.member_ref_for(s, merchant_id=bakery, member_id=mei)
        link = s.get(FederationLink, link_id)
        with pytest.raises(NotFound):
            points.hold_for_partner(s, link=link, body={"hold_id": "h1", "member_subject": bakery_ref,
                                                        "points": 1}, now=T0)
        with pytest.raises(InvalidInput):
            points.hold_for_partner(s, link=link, body={"hold_id": "h1", "member_subject": subject, "points": 1,
                                                        "amount_minor": 1}, now=T0)
        with pytest.raises(NotFound):
            points.post_for_partner(s, link=other, hold_id="h1", body={}, now=T0)


def test_points_settlement_needs_member_recognition():
    with pytest.raises(caps.CapabilityError, match="needs member_recognition"):
        caps.normalise(["order_handoff", "points_settlement"])
    assert caps.negotiate(["order_handoff", "member_recognition", "points_settlement"],
                          ["order_handoff", "points_settlement"]) == ["order_handoff"]
    assert "points_settlement" not in caps.DEFAULT_OFFER
