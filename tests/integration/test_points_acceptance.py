"""Points acceptance by agreement (S5, issue 5 §1): a merchant's own points pay at another merchant only
under an accepted points agreement naming that merchant as the acceptor, and at the value agreed there
(here Blue Harbour takes Sweet Lane points at 4 fen each, though the bakery values them at 5). The issuer
then owes the acceptor exactly that value. Ending the agreement refuses new holds; a hold taken before
still posts, at the value in force when it was taken. The network card pays everywhere, as before."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oao.core.auth import Principal, Role
from oao.loyalty import service as loyalty
from oao.loyalty.models import SettlementEntry
from oao.members import service as members
from oao.network import service as network
from oao.pos import till
from oao.settlement import book
from oao.settlement import service as settlement
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

OPERATOR = Principal(kind="api_key", id="key_operator", name="operator", role=Role.NETWORK_ADMIN, merchant_id=None)
PRICE = 3600
REFUSAL = "Blue Harbour Fresh does not accept Sweet Lane Bakery points: no points agreement"


class Net:
    def __init__(self, db) -> None:
        with db.unit_of_work() as s:
            bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
            fresh = f.merchant(s, "Blue Harbour Fresh", at=T0)
            store = f.location(s, fresh, "Blue Harbour Fresh Wulin", 30.2741, 120.1551, at=T0, pick_minutes=10)
            fish = f.product(s, 7101, "Yellow croaker, 500 g", at=T0, category="food")
            f.offer(s, fresh, fish, PRICE, at=T0)
            f.stock(s, store, fish, 20, at=T0)
            self.bakery, self.fresh, self.store, self.fish = bakery.id, fresh.id, store.id, fish.id
            self.fresh_key = f.api_key(s, fresh, at=T0)
            baker = Principal(kind="api_key", id="key_baker", name="bakery", role=Role.MERCHANT_ADMIN,
                              merchant_id=bakery.id)
            # The bakery's own points are worth 5 fen each to the bakery.
            self.sweet = loyalty.create_programme(s, principal=baker, merchant_id=bakery.id, name="Sweet points",
                                                  currency="CNY", value_minor=5, value_points=1, expiry_days=None,
                                                  tiers=[], now=T0).id
            self.card = loyalty.network_programme(s).id
            member = members.sign_up(s, email="mei@example.com", phone=None, password="demo-password", name="Mei",
                                     now=T0)
            self.mei = member.id
            self.mei_at_fresh = members.member_ref_for(s, merchant_id=fresh.id, member_id=member.id)
            loyalty.grant_points(s, principal=baker, grant_id="sweet-welcome", member_id=member.id,
                                 programme_id=self.sweet, points=1000, reason="welcome", now=T0)
            loyalty.grant_points(s, principal=OPERATOR, grant_id="card-welcome", member_id=member.id,
                                 programme_id=self.card, points=1000, reason="welcome", now=T0)
        self.cashier = Principal(kind="api_key", id="key_fresh", name="till", role=Role.MERCHANT_ADMIN,
                                 merchant_id=self.fresh)

    def agree(self, db, *, at, value_minor=4, value_points=1) -> str:
        """The bakery proposes that Blue Harbour accepts its points; Blue Harbour accepts."""
        with db.unit_of_work() as s:
            agreement = network.propose_agreement(
                s, proposer_merchant_id=self.bakery, counterparty_merchant_id=self.fresh, now=at,
                terms={"points": {"acceptor_merchant_id": self.fresh, "issuer_programme_id": self.sweet,
                                  "value_minor": value_minor, "value_points": value_points}})
            network.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=self.fresh, now=at)
            return agreement.id

    def hold(self, s, hold_id, points, at, programme=None):
        return loyalty.hold_points(s, hold_id=hold_id, member_id=self.mei, programme_id=programme or self.sweet,
                                   points=points, accepting_merchant_id=self.fresh, now=at)

    def order(self, client, *, amount, programme=None, **body):
        quote = client.post("/api/v1/quotes", headers=auth(self.fresh_key), json={
            "lines": [{"product_id": self.fish, "quantity": 1}], "pickup_location_id": self.store}).json()
        return client.post("/api/v1/orders", headers=auth(self.fresh_key), json={
            "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "member_ref": self.mei_at_fresh,
            "customer": {"name": "Mei"}, "points": {"programme_id": programme or self.sweet, "amount_minor": amount},
            **body})

    def available(self, db, programme=None) -> int:
        with db.read() as s:
            return next(b.available for b in loyalty.balances(s, member_id=self.mei)
                        if b.programme_id == (programme or self.sweet))


@pytest.fixture
def net(db):
    return Net(db)


def test_without_an_agreement_another_merchants_points_are_refused_everywhere_but_the_network_card_pays(
        db, client, clock, net):
    with db.unit_of_work() as s, pytest.raises(loyalty.PointsNotAccepted) as refused:
        net.hold(s, "chk_1", 100, clock.now())
    assert refused.value.status == 422 and REFUSAL in refused.value.detail

    # The online order is refused with the same clear problem, and nothing is held or reserved.
    r = net.order(client, amount=1000, payment_method="pay_at_pickup")
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "/problems/points-not-accepted" and REFUSAL in r.json()["detail"]
    assert net.available(db) == 1000
    assert client.get("/api/v1/orders", headers=auth(net.fresh_key)).json() == []

    # At the till: the member panel does not offer them, and holding them is refused by name.
    with db.unit_of_work() as s:
        assert [b.programme_id for b in till._balances(s, member_id=net.mei, merchant_id=net.fresh,
                                                       now=clock.now())] == [net.card]
        with pytest.raises(loyalty.PointsNotAccepted, match=REFUSAL):
            till.hold_points_for(s, principal=net.cashier, hold_id="till_1", member_ref=net.mei_at_fresh,
                                 programme_id=net.sweet, amount_minor=500, now=clock.now())

    # The network card pays anywhere, and the bakery's points at the bakery.
    with db.unit_of_work() as s:
        assert net.hold(s, "chk_card", 100, clock.now(), programme=net.card).status == "pending"
        own = loyalty.hold_points(s, hold_id="chk_own", member_id=net.mei, programme_id=net.sweet, points=100,
                                  accepting_merchant_id=net.bakery, now=clock.now())
        assert own.status == "pending"


def _points_ledger(db, hold_id):
    with db.unit_of_work() as s:
        settlement.post_from_outbox(s, now=T0 + timedelta(days=1), fee_bps=0)
    with db.read() as s:
        return [(e.debit_account, e.credit_account, e.amount_minor)
                for e in book.entries_of(s, reference=hold_id, kinds=("points_redemption",))]


def test_with_an_agreement_they_pay_at_the_agreed_value_and_the_issuer_owes_exactly_that(db, client, clock, net):
    net.agree(db, at=clock.now())
    clock.advance(minutes=1)

    # ¥20.00 of a ¥36.00 order in Sweet points: at 4 fen each that takes 500 points (not 400 at 5 fen).
    r = net.order(client, amount=2000, payment_method="pay_at_pickup")
    assert r.status_code == 201, r.text
    order = r.json()
    assert (order["status"], order["points"]["points"], order["points"]["amount_minor"]) == ("confirmed", 500, 2000)
    assert order["points"]["status"] == "spent"
    assert net.available(db) == 500

    hold_id = order["points"]["hold_id"]
    with db.read() as s:
        [entry] = s.query(SettlementEntry).filter_by(hold_id=hold_id).all()
        assert (entry.kind, entry.debtor_merchant_id, entry.creditor_merchant_id) == (
            "redemption", net.bakery, net.fresh)
        assert (entry.points, entry.amount_minor, entry.currency) == (500, 2000, "CNY")
    # The settlement ledger books the bakery paying Blue Harbour the agreed value.
    [(debit, credit, amount)] = _points_ledger(db, hold_id)
    assert net.bakery in debit and net.fresh in credit and amount == 2000

    # At the till the member panel offers them, worth what Blue Harbour gives for them.
    with db.unit_of_work() as s:
        offered = {b.programme_id: b for b in till._balances(s, member_id=net.mei, merchant_id=net.fresh,
                                                             now=clock.now())}
        assert (offered[net.sweet].available, offered[net.sweet].value_minor) == (500, 2000)
        held = till.hold_points_for(s, principal=net.cashier, hold_id="till_1", member_ref=net.mei_at_fresh,
                                    programme_id=net.sweet, amount_minor=1000, now=clock.now())
        assert (held.points, held.value_minor, held.status) == (250, 1000, "pending")


def test_an_ended_agreement_refuses_new_holds_but_an_open_hold_posts_at_the_value_it_was_taken_at(db, clock, net):
    agreement_id = net.agree(db, at=clock.now())
    clock.advance(minutes=1)
    with db.unit_of_work() as s:
        net.hold(s, "chk_open", 250, clock.now())
    clock.advance(minutes=1)
    with db.unit_of_work() as s:
        network.end_agreement(s, agreement_id=agreement_id, ended_by_merchant_id=net.fresh, now=clock.now())
    clock.advance(minutes=1)

    with db.unit_of_work() as s, pytest.raises(loyalty.PointsNotAccepted, match=REFUSAL):
        net.hold(s, "chk_late", 100, clock.now())
    with db.unit_of_work() as s:
        posted = loyalty.post_hold(s, hold_id="chk_open", now=clock.now(), sale_ref="pos_fresh_1")
        assert (posted.status, posted.posted_points) == ("posted", 250)
        assert loyalty.hold_value_minor(s, hold_id="chk_open") == 1000
        [entry] = s.query(SettlementEntry).filter_by(hold_id="chk_open").all()
        assert (entry.debtor_merchant_id, entry.creditor_merchant_id, entry.points, entry.amount_minor) == (
            net.bakery, net.fresh, 250, 1000)
    assert net.available(db) == 750
    [(_, _, amount)] = _points_ledger(db, "chk_open")
    assert amount == 1000
