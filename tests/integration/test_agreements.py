"""Partner agreements as use cases: one merchant proposes, the other accepts, terms are versioned,
and the lookups (pickup_terms / referral_terms / points_terms) answer for any moment — nothing
before acceptance, the version in force at that moment, nothing for orders placed after the end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from oao.core.auth import Principal, Role
from oao.core.errors import Conflict, Forbidden, InvalidInput, InvalidState
from oao.core.outbox import OutboxEvent
from oao.loyalty import programmes
from oao.network import service as network
from tests import factories as f
from tests.conftest import T0

T1, T2, T3 = T0 + timedelta(hours=1), T0 + timedelta(hours=2), T0 + timedelta(hours=3)


@dataclass
class Pair:
    corner: str  # a convenience chain: hosts pickups, refers sales
    bakery: str
    other: str  # party to nothing


@pytest.fixture
def pair(db) -> Pair:
    with db.unit_of_work() as s:
        return Pair(*(f.merchant(s, name, at=T0).id for name in ("Daily Corner", "Sweet Lane Bakery", "Outsider")))


def pickup(host: str, fee: int = 100) -> dict:
    return {"pickup": {"host_merchant_id": host, "fee_minor": fee, "currency": "CNY"}}


def propose(s, p: Pair, terms: dict, at=T0):
    return network.propose_agreement(s, proposer_merchant_id=p.corner, counterparty_merchant_id=p.bakery,
                                     terms=terms, now=at)


def terms_at(s, p: Pair, at):
    return network.pickup_terms(s, host_merchant_id=p.corner, guest_merchant_id=p.bakery, at=at)


def events(s, kind: str) -> list[dict]:
    return [e.payload for e in s.scalars(select(OutboxEvent).where(OutboxEvent.type == f"partner_agreement.{kind}")
                                         .order_by(OutboxEvent.id))]


def test_terms_apply_only_once_the_counterparty_accepts(db, pair):
    with db.unit_of_work() as s:
        agreement = propose(s, pair, {**pickup(pair.corner, 150),
                                      "referral": {"referrer_merchant_id": pair.corner, "commission_bps": 800}})
        assert agreement.status == "proposed"
        assert terms_at(s, pair, T1) is None and network.pickup_partners(s) == set()
        network.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=pair.bakery, now=T1)
    with db.unit_of_work() as s:
        terms = terms_at(s, pair, T1)
        assert (terms.agreement_id, terms.version, terms.fee_minor, terms.currency) == (agreement.id, 1, 150, "CNY")
        assert terms_at(s, pair, T0) is None, "not before it was accepted"
        assert network.pickup_partners(s) == {(pair.corner, pair.bakery)}
        # Pickup runs one way: the bakery hosts nothing for the corner.
        assert network.pickup_terms(s, host_merchant_id=pair.bakery, guest_merchant_id=pair.corner, at=T1) is None
        referral = network.referral_terms(s, referrer_merchant_id=pair.corner, seller_merchant_id=pair.bakery, at=T2)
        assert (referral.commission_bps, referral.version) == (800, 1)
        assert network.referral_terms(s, referrer_merchant_id=pair.bakery, seller_merchant_id=pair.corner,
                                      at=T2) is None
        assert network.pickup_terms(s, host_merchant_id=pair.corner, guest_merchant_id=pair.other, at=T2) is None


def test_the_proposer_cannot_accept_its_own_proposal(db, pair):
    with db.unit_of_work() as s:
        agreement = propose(s, pair, pickup(pair.corner))
        with pytest.raises(Forbidden, match="own proposal"):
            network.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=pair.corner,
                                   now=T1)
        with pytest.raises(Forbidden, match="parties"):
            network.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=pair.other,
                                   now=T1)
        assert agreement.status == "proposed" and terms_at(s, pair, T1) is None


def test_a_new_version_replaces_the_terms_only_when_accepted_and_history_stays(db, pair):
    with db.unit_of_work() as s:
        agreement = propose(s, pair, pickup(pair.corner, 100))
        network.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=pair.bakery, now=T0)
        # The bakery asks for a lower fee; the corner counters; neither applies until accepted.
        asked = network.propose_version(s, agreement_id=agreement.id, proposer_merchant_id=pair.bakery,
                                        terms=pickup(pair.corner, 50), now=T1)
        countered = network.propose_version(s, agreement_id=agreement.id, proposer_merchant_id=pair.corner,
                                            terms=pickup(pair.corner, 80), now=T1)
        assert (asked.version, asked.status, countered.version) == (2, "superseded", 3)
        assert terms_at(s, pair, T1).fee_minor == 100
        with pytest.raises(InvalidState, match="superseded"):
            network.accept_version(s, agreement_id=agreement.id, version=2, accepting_merchant_id=pair.corner,
                                   now=T2)
        network.accept_version(s, agreement_id=agreement.id, version=3, accepting_merchant_id=pair.bakery, now=T2)
    with db.unit_of_work() as s:
        assert (terms_at(s, pair, T2).fee_minor, terms_at(s, pair, T2).version) == (80, 3)
        assert terms_at(s, pair, T1).fee_minor == 100, "orders placed before keep the terms of their moment"
        versions = network.agreement_versions(s, agreement_ids=[agreement.id])[agreement.id]
        assert [(v.version, v.status, v.terms["pickup"]["fee_minor"]) for v in versions] == [
            (1, "accepted", 100), (2, "superseded", 50), (3, "accepted", 80)]
        # A declined new version leaves the accepted terms in force.
        network.propose_version(s, agreement_id=agreement.id, proposer_merchant_id=pair.corner,
                                terms=pickup(pair.corner, 500), now=T3)
        network.decline_version(s, agreement_id=agreement.id, version=4, declining_merchant_id=pair.bakery, now=T3)
        assert network.get_agreement(s, agreement_id=agreement.id).status == "active"
        assert terms_at(s, pair, T3).fee_minor == 80


def test_ending_stops_the_terms_for_later_moments_but_not_for_earlier_ones(db, pair):
    with db.unit_of_work() as s:
        agreement = propose(s, pair, pickup(pair.corner, 120))
        network.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=pair.bakery, now=T0)
        network.end_agreement(s, agreement_id=agreement.id, ended_by_merchant_id=pair.bakery, now=T2)
    with db.unit_of_work() as s:
        assert terms_at(s, pair, T1).fee_minor == 120, "an order placed before the end keeps its pickup fee"
        assert terms_at(s, pair, T2) is None and terms_at(s, pair, T3) is None
        assert network.pickup_partners(s) == set() and network.pickup_partners(s, at=T1) == {(pair.corner, pair.bakery)}
        with pytest.raises(InvalidState, match="already ended"):
            network.end_agreement(s, agreement_id=agreement.id, now=T3)
        with pytest.raises(InvalidState, match="ended"):
            network.propose_version(s, agreement_id=agreement.id, proposer_merchant_id=pair.corner,
                                    terms=pickup(pair.corner), now=T3)
        # The pair may start over with a new agreement.
        again = propose(s, pair, pickup(pair.corner, 90), at=T3)
        assert again.id != agreement.id and again.status == "proposed"


def test_declined_and_withdrawn_proposals_give_no_terms(db, pair):
    with db.unit_of_work() as s:
        declined = propose(s, pair, pickup(pair.corner))
        with pytest.raises(Forbidden, match="withdraw"):
            network.decline_version(s, agreement_id=declined.id, version=1, declining_merchant_id=pair.corner, now=T1)
        network.decline_version(s, agreement_id=declined.id, version=1, declining_merchant_id=pair.bakery, now=T1)
        assert declined.status == "declined" and terms_at(s, pair, T2) is None
        with pytest.raises(InvalidState, match="declined"):
            network.accept_version(s, agreement_id=declined.id, version=1, accepting_merchant_id=pair.bakery, now=T2)
        withdrawn = propose(s, pair, pickup(pair.corner), at=T2)
        network.withdraw_version(s, agreement_id=withdrawn.id, version=1, withdrawing_merchant_id=pair.corner, now=T2)
        assert withdrawn.status == "withdrawn" and terms_at(s, pair, T3) is None
        with pytest.raises(InvalidState, match="not active"):
            network.end_agreement(s, agreement_id=withdrawn.id, now=T3)


def test_proposing_is_idempotent_and_one_live_agreement_per_pair(db, pair):
    with db.unit_of_work() as s:
        first = propose(s, pair, pickup(pair.corner))
        assert propose(s, pair, pickup(pair.corner)).id == first.id, "a retried proposal is the same one"
        with pytest.raises(Conflict, match=first.id):
            propose(s, pair, pickup(pair.corner, 999))
        with pytest.raises(Conflict, match=first.id):  # from the other side too
            network.propose_agreement(s, proposer_merchant_id=pair.bakery, counterparty_merchant_id=pair.corner,
                                      terms=pickup(pair.corner), now=T0)
        assert len(events(s, "proposed")) == 1


@pytest.mark.parametrize("terms,words", [
    ({"pickup": {"host_merchant_id": "OTHER", "fee_minor": 100, "currency": "CNY"}}, "not a party"),
    ({"pickup": {"host_merchant_id": "CORNER", "fee_minor": -1, "currency": "CNY"}}, "negative"),
    ({"pickup": {"host_merchant_id": "CORNER", "fee_minor": True, "currency": "CNY"}}, "whole number"),
    ({"pickup": {"host_merchant_id": "CORNER", "fee_minor": 1, "currency": "EUR"}}, "host's currency CNY"),
    ({"pickup": {"host_merchant_id": "CORNER", "fee_minor": 1}}, "needs currency"),
    ({"referral": {"referrer_merchant_id": "CORNER", "commission_bps": 5001}}, "cannot exceed 5000"),
    ({"referral": {"referrer_merchant_id": "OTHER", "commission_bps": 10}}, "not a party"),
    ({"points": {"acceptor_merchant_id": "CORNER", "issuer_programme_id": "lpg_nope", "value_minor": 1,
                 "value_points": 1}}, "not a loyalty programme"),
    ({"data_sharing": {"permissions": [{"data_class": "basket_total"}]}}, "purposes"),
    ({"pickup": None, "referral": None}, "at least one"),
    ({"discount": {}}, "unknown fields: discount"),
])
def test_bad_terms_are_refused_saying_why(db, pair, terms, words):
    names = {"OTHER": pair.other, "CORNER": pair.corner}
    terms = {name: None if term is None else {k: names.get(v, v) if isinstance(v, str) else v
                                               for k, v in term.items()}
             for name, term in terms.items()}  # a copy: parameters are shared by both databases' runs
    with db.unit_of_work() as s, pytest.raises(InvalidInput, match=words):
        propose(s, pair, terms)


def test_points_terms_name_the_issuers_programme(db, pair):
    operator = Principal(kind="test", id="t", name="t", role=Role.NETWORK_ADMIN, merchant_id=None)
    with db.unit_of_work() as s:
        card = programmes.create_programme(s, principal=operator, merchant_id=pair.bakery, name="Bakery card",
                                           currency="CNY", value_minor=1, value_points=10, expiry_days=None,
                                           tiers=[], now=T0)
        points = {"acceptor_merchant_id": pair.corner, "issuer_programme_id": card.id, "value_minor": 1,
                  "value_points": 20}
        with pytest.raises(InvalidInput, match="not a loyalty programme"):  # the acceptor's own side is wrong
            propose(s, pair, {"points": {**points, "acceptor_merchant_id": pair.bakery}})
        agreement = propose(s, pair, {"points": points})
        assert network.points_terms(s, acceptor_merchant_id=pair.corner, issuer_programme_id=card.id, at=T1) is None
        network.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=None, now=T1)
        terms = network.points_terms(s, acceptor_merchant_id=pair.corner, issuer_programme_id=card.id, at=T1)
        assert (terms.issuer_merchant_id, terms.value_minor, terms.value_points) == (pair.bakery, 1, 20)
        assert network.points_terms(s, acceptor_merchant_id=pair.other, issuer_programme_id=card.id, at=T1) is None
        network.end_agreement(s, agreement_id=agreement.id, now=T2)
        assert network.points_terms(s, acceptor_merchant_id=pair.corner, issuer_programme_id=card.id, at=T2) is None


def test_every_step_is_an_event_naming_both_merchants_the_version_and_the_terms(db, pair):
    with db.unit_of_work() as s:
        agreement = propose(s, pair, pickup(pair.corner, 100))
        network.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=pair.bakery, now=T1)
        network.propose_version(s, agreement_id=agreement.id, proposer_merchant_id=pair.bakery,
                                terms=pickup(pair.corner, 60), now=T2)
        network.decline_version(s, agreement_id=agreement.id, version=2, declining_merchant_id=pair.corner, now=T2)
        network.end_agreement(s, agreement_id=agreement.id, ended_by_merchant_id=pair.corner, now=T3)
        steps = {kind: events(s, kind) for kind in ("proposed", "accepted", "declined", "ended")}
    assert [e["version"] for e in steps["proposed"]] == [1, 2]
    assert [(e["version"], e["by_merchant_id"]) for e in steps["accepted"]] == [(1, pair.bakery)]
    assert [(e["version"], e["terms"]["pickup"]["fee_minor"]) for e in steps["declined"]] == [(2, 60)]
    [ended] = steps["ended"]
    assert (ended["version"], ended["terms"]["pickup"]["fee_minor"], ended["status"]) == (1, 100, "ended")
    for payload in (e for found in steps.values() for e in found):
        assert payload["merchant_ids"] == sorted([pair.corner, pair.bakery])
        assert (payload["proposer_merchant_id"], payload["counterparty_merchant_id"]) == (pair.corner, pair.bakery)
        assert payload["agreement_id"] == agreement.id


def test_the_pickup_shortcut_is_accepted_by_the_operator_or_left_for_the_guest(db, pair):
    with db.unit_of_work() as s:
        signed = network.create_pickup_agreement(s, host_merchant_id=pair.corner, guest_merchant_id=pair.bakery,
                                                 pickup_fee_minor=150, now=T0)
        assert signed.status == "active" and terms_at(s, pair, T0).fee_minor == 150
        [version] = network.agreement_versions(s, agreement_ids=[signed.id])[signed.id]
        assert version.decided_by_merchant_id is None, "recorded as accepted by the network operator"
        left = network.create_pickup_agreement(s, host_merchant_id=pair.corner, guest_merchant_id=pair.other,
                                               pickup_fee_minor=0, now=T0, accept=False)
        assert left.status == "proposed"
        assert network.pickup_terms(s, host_merchant_id=pair.corner, guest_merchant_id=pair.other, at=T1) is None


@pytest.mark.slow
def test_the_demo_network_runs_on_accepted_agreements(db):
    from oao.demo import load_demo
    from oao.network.models import Merchant

    with db.unit_of_work() as s:
        load_demo(s, now=T0)
    with db.read() as s:
        ids = {m.name: m.id for m in s.scalars(select(Merchant))}
        corner, online = ids["Daily Corner"], ids["Qiantang Online"]
        for guest, fee in ((ids["Sweet Lane Bakery"], 100), (online, 150)):
            assert network.pickup_terms(s, host_merchant_id=corner, guest_merchant_id=guest, at=T0).fee_minor == fee
        referral = network.referral_terms(s, referrer_merchant_id=ids["Jade Petal Cosmetics"],
                                          seller_merchant_id=online, at=T0)
        assert referral is not None and referral.commission_bps == 800
        assert {e["by_merchant_id"] for e in events(s, "accepted")} == {ids["Sweet Lane Bakery"], online}
