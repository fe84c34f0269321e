"""S5, one card, points everywhere: a member earns at the bakery, spends those
points at the cinema (another merchant) with a hold that posts, and the bakery
owes the cinema their value; she converts bakery points into network points at
the published rate, what is left expires, and her tier follows her spend."""

from datetime import timedelta

import pytest

from oao.core.auth import Principal, Role
from oao.core.outbox import record_event
from oao.loyalty import service as loyalty
from oao.loyalty.models import SettlementEntry
from oao.loyalty.transfers import InsufficientPoints
from oao.network import service as network_service
from tests import factories as f
from tests.conftest import T0

ADMIN = Principal(kind="api_key", id="key_admin", name="operator", role=Role.NETWORK_ADMIN, merchant_id=None)
ALICE = "mem_alice"


def sale_event(s, *, merchant_id, sale_ref, channel, lines, at, member_id=ALICE):
    total = sum(line["amount_minor"] for line in lines)
    return record_event(s, type="pos.sale_recorded", subject_id=sale_ref, merchant_id=merchant_id, at=at, payload={
        "member_id": member_id, "merchant_id": merchant_id, "location_id": None, "channel": channel,
        "currency": "CNY", "total_minor": total, "sale_ref": sale_ref, "lines": lines})


@pytest.fixture
def mall(db, clock):
    with db.unit_of_work() as s:
        bakery, cinema = f.merchant(s, "Sweet Lane Bakery", at=T0), f.merchant(s, "Wanda Cinema", at=T0)
        # Network points are worth 0.10 CNY each; Silver from 100 CNY spent in 12 months, Gold from 2,000.
        network = loyalty.create_programme(
            s, principal=ADMIN, merchant_id=None, name="Mall points", currency="CNY", value_minor=10,
            value_points=1, expiry_days=730, now=T0,
            tiers=[{"name": "Silver", "min_spend_minor": 10_000}, {"name": "Gold", "min_spend_minor": 200_000}])
        loyalty.create_rule(s, principal=ADMIN, programme_id=network.id, merchant_id=None, name="1 per 10 CNY",
                            points=1, per_minor=1000, now=T0)
        baker = Principal(kind="api_key", id="key_b", name="bakery", role=Role.MERCHANT_ADMIN, merchant_id=bakery.id)
        # Bakery points are worth 0.05 CNY each and expire after a year.
        own = loyalty.create_programme(s, principal=baker, merchant_id=bakery.id, name="Sweet points",
                                       currency="CNY", value_minor=5, value_points=1, expiry_days=365, tiers=[],
                                       now=T0)
        loyalty.create_rule(s, principal=baker, programme_id=own.id, merchant_id=bakery.id, name="cakes count double",
                            points=1, per_minor=100, category_multipliers={"cakes": 200}, now=T0)
        # The operator publishes 1 network point for every 2 bakery points (same value: 10 fen).
        loyalty.publish_conversion_rate(s, principal=ADMIN, programme_id=own.id, network_points=1, per_points=2)
        # The cinema accepts bakery points at the bakery's own value under a points agreement (issue 5).
        agreement = network_service.propose_agreement(
            s, proposer_merchant_id=bakery.id, counterparty_merchant_id=cinema.id, now=T0, terms={"points": {
                "acceptor_merchant_id": cinema.id, "issuer_programme_id": own.id, "value_minor": 5, "value_points": 1}})
        network_service.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=cinema.id, now=T0)
        return {"bakery": bakery.id, "cinema": cinema.id, "network": network.id, "sweet": own.id}


def balance_of(s, programme_id, now=None):
    return next(b for b in loyalty.balances(s, member_id=ALICE, now=now) if b.programme_id == programme_id)


def test_points_earned_at_the_bakery_pay_at_the_cinema_and_the_bakery_owes_the_cinema(db, clock, mall):
    with db.unit_of_work() as s:
        # Self-checkout earns double (S3); cakes earn double again at the bakery.
        sale_event(s, merchant_id=mall["bakery"], sale_ref="pos_bakery_1", channel="self_checkout", at=T0, lines=[
            {"product_id": "prd_cake", "category": "cakes", "quantity": 1, "amount_minor": 8000},
            {"product_id": "prd_bread", "category": "bread", "quantity": 2, "amount_minor": 4000}])
        sale_event(s, merchant_id=mall["bakery"], sale_ref="pos_anon", channel="till", at=T0, member_id=None,
                   lines=[{"product_id": "prd_bread", "category": "bread", "quantity": 1, "amount_minor": 2000}])
    with db.unit_of_work() as s:
        assert loyalty.accrue_from_outbox(s, now=T0) == 2
    with db.unit_of_work() as s:
        assert loyalty.accrue_from_outbox(s, now=T0) == 0, "each sale earns exactly once"
        sweet, network = balance_of(s, mall["sweet"]), balance_of(s, mall["network"], now=T0)
        assert sweet.available == 8000 * 2 * 2 // 100 + 4000 * 2 // 100 == 400
        assert network.available == 12000 // 1000 * 2 == 24
        assert network.tier == "Silver"

    # At the cinema: a 60 CNY ticket, 300 bakery points (15 CNY) and the rest from the wallet.
    clock.advance(days=3)
    with db.unit_of_work() as s:
        assert loyalty.points_needed(s, programme_id=mall["sweet"], amount_minor=1500) == 300
        hold = loyalty.hold_points(s, hold_id="chk_cinema_1", member_id=ALICE, programme_id=mall["sweet"],
                                   points=320, accepting_merchant_id=mall["cinema"], now=clock.now())
        assert hold.status == "pending"
        assert (balance_of(s, mall["sweet"]).available, balance_of(s, mall["sweet"]).held) == (80, 320)
    with db.unit_of_work() as s, pytest.raises(InsufficientPoints):
        loyalty.hold_points(s, hold_id="chk_cinema_2", member_id=ALICE, programme_id=mall["sweet"], points=81,
                            accepting_merchant_id=mall["cinema"], now=clock.now())
    with db.unit_of_work() as s:
        posted = loyalty.post_hold(s, hold_id="chk_cinema_1", points=300, now=clock.now(), sale_ref="ord_ticket_1")
        assert (posted.status, posted.posted_points) == ("posted", 300)
        again = loyalty.post_hold(s, hold_id="chk_cinema_1", points=300, now=clock.now())
        assert again.posted_points == 300, "posting twice is the same post"
        assert balance_of(s, mall["sweet"]).available == 100, "the 20 points held but not used come back"
        [entry] = s.query(SettlementEntry).all()
        assert (entry.debtor_merchant_id, entry.creditor_merchant_id) == (mall["bakery"], mall["cinema"])
        assert (entry.points, entry.amount_minor, entry.currency) == (300, 300 * 5, "CNY")
        seen_by_cinema = loyalty.list_settlement_entries(s, principal=Principal(
            kind="api_key", id="k", name="cinema", role=Role.MERCHANT_ADMIN, merchant_id=mall["cinema"]),
            merchant_id=None)
        assert [e.id for e in seen_by_cinema] == [entry.id]

    # Conversion: 99 bakery points at 1 per 2 give 49 network points; the operator keeps the half point.
    with db.unit_of_work() as s:
        conversion = loyalty.convert_to_network(s, conversion_id="cnv_1", member_id=ALICE,
                                                programme_id=mall["sweet"], points=99, now=clock.now())
        assert (conversion.points_in, conversion.points_out) == (99, 49)
        assert loyalty.convert_to_network(s, conversion_id="cnv_1", member_id=ALICE, programme_id=mall["sweet"],
                                          points=99, now=clock.now()).id == conversion.id
        assert balance_of(s, mall["sweet"]).available == 1
        assert balance_of(s, mall["network"]).available == 24 + 49
        owed = [e for e in s.query(SettlementEntry).all() if e.kind == "conversion"]
        assert [(e.debtor_merchant_id, e.creditor_merchant_id, e.amount_minor) for e in owed] == [
            (mall["bakery"], None, 99 * 5)]

    # A year on: the last bakery point expires (network points last two years), and so does Silver.
    clock.set(T0 + timedelta(days=366))
    with db.unit_of_work() as s:
        assert loyalty.expire_due_points(s, now=clock.now()) == 1
        assert loyalty.expire_due_points(s, now=clock.now()) == 0
        assert balance_of(s, mall["sweet"]).available == 0
        network = balance_of(s, mall["network"], now=clock.now())
        assert (network.available, network.tier) == (73, None)
        lines = loyalty.statement(s, member_id=ALICE, programme_id=mall["sweet"])
        assert [(line.code, line.points) for line in lines] == [
            ("earn", 400), ("hold", -320), ("spend", 20), ("convert", -99), ("expire", -1)]
        assert lines[-1].balance_after == 0


def test_a_hold_that_times_out_is_voided_and_cannot_be_posted_any_more(db, clock, mall):
    with db.unit_of_work() as s:
        sale_event(s, merchant_id=mall["bakery"], sale_ref="pos_1", channel="till", at=T0,
                   lines=[{"product_id": "p", "category": None, "quantity": 1, "amount_minor": 10_000}])
    with db.unit_of_work() as s:
        loyalty.accrue_from_outbox(s, now=T0)
        loyalty.hold_points(s, hold_id="chk_1", member_id=ALICE, programme_id=mall["sweet"], points=60,
                            accepting_merchant_id=mall["cinema"], now=T0)
    clock.advance(minutes=16)
    with db.unit_of_work() as s:
        assert loyalty.void_expired_holds(s, now=clock.now()) == 1
        assert loyalty.void_expired_holds(s, now=clock.now()) == 0
        assert loyalty.void_hold(s, hold_id="chk_1", now=clock.now()).status == "voided"
        assert balance_of(s, mall["sweet"]).available == 100
    from oao.core.errors import InvalidState
    with db.unit_of_work() as s, pytest.raises(InvalidState):
        loyalty.post_hold(s, hold_id="chk_1", now=clock.now())


def test_a_return_reverses_earned_points_and_restores_spent_ones_in_proportion(db, clock, mall):
    with db.unit_of_work() as s:
        sale_event(s, merchant_id=mall["bakery"], sale_ref="pos_1", channel="till", at=T0,
                   lines=[{"product_id": "p", "category": None, "quantity": 1, "amount_minor": 20_000}])
    with db.unit_of_work() as s:
        loyalty.accrue_from_outbox(s, now=T0)  # 200 bakery points, 20 network points
        loyalty.hold_points(s, hold_id="chk_film", member_id=ALICE, programme_id=mall["sweet"], points=100,
                            accepting_merchant_id=mall["cinema"], now=T0, sale_ref="ord_film")
        loyalty.post_hold(s, hold_id="chk_film", now=T0)
    with db.unit_of_work() as s:
        # Half of the bakery sale comes back, and a quarter of the cinema order.
        bakery_back = loyalty.reverse_for_return(s, return_id="ret_1", sale_ref="pos_1", returned_minor=10_000,
                                                 sale_total_minor=20_000, now=T0)
        assert (bakery_back.points_reversed, bakery_back.points_restored) == (100 + 10, 0)
        cinema_back = loyalty.reverse_for_return(s, return_id="ret_2", sale_ref="ord_film", returned_minor=1000,
                                                 sale_total_minor=4000, now=T0)
        assert (cinema_back.points_reversed, cinema_back.points_restored) == (0, 25)
        assert loyalty.reverse_for_return(s, return_id="ret_2", sale_ref="ord_film", returned_minor=1000,
                                          sale_total_minor=4000, now=T0) == cinema_back
        assert balance_of(s, mall["sweet"]).available == 200 - 100 - 100 + 25
        entries = {e.kind: e for e in s.query(SettlementEntry).all()}
        assert entries["redemption"].amount_minor == 500
        assert (entries["redemption_reversal"].points, entries["redemption_reversal"].amount_minor) == (-25, -125)
