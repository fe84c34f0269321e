"""S3 aggregated sharing: a partner with an accepted agreement permitting aggregated_stats learns what is
popular with a group, only when at least k distinct consenting members are in it; each answer is a disclosure."""

from __future__ import annotations

from datetime import timedelta

from oao.core.ids import new_id
from oao.members.models import Member, MemberConsent
from oao.orders.models import Order, OrderLine
from oao.sharing import service as sharing
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

AGG = "/api/v1/sharing/aggregates"


def member(s, n: int, *, birth_year: int, gender: str, owner_id: str, consents=("profile.age_band", "profile.gender")):
    m = Member(id=new_id("mem"), email=f"m{n}-{new_id('x')}@example.com", name=f"Member {n}", birth_year=birth_year,
               gender=gender, created_at=T0, updated_at=T0)
    s.add(m)
    s.flush()
    for data_class in consents:
        s.add(MemberConsent(id=new_id("mco"), member_id=m.id, merchant_id=owner_id, data_class=data_class,
                            granted_at=T0, expires_at=None, withdrawn_at=None))
    return m


def sale(s, owner_id: str, member_id: str, product, *, quantity: int = 1, status: str = "completed") -> None:
    order = Order(id=new_id("ord"), merchant_id=owner_id, status=status, quote_id="q", option_id="o",
                  member_id=member_id, currency="CNY", subtotal_minor=1000, fees_minor=0, total_minor=1000,
                  payment_method="wallet_qr", created_at=T0 - timedelta(days=3), updated_at=T0)
    s.add(order)
    s.flush()
    s.add(OrderLine(id=new_id("orl"), order_id=order.id, merchant_id=owner_id, product_id=product.id,
                    fulfillment_id="ful", gtin=product.gtin, title=product.title, quantity=quantity,
                    unit_price_minor=1000, currency="CNY"))


def network(db, *, popular: int = 22, rare: int = 5):
    """Qiantang Online sold brand Lumi to `popular` women aged 21 and brand Aster to `rare` of them."""
    with db.unit_of_work() as s:
        owner = f.merchant(s, "Qiantang Online", at=T0)
        partner = f.merchant(s, "Jade Petal Cosmetics", at=T0)
        stranger = f.merchant(s, "Blue Harbour Fresh", at=T0)
        lumi = f.product(s, 901, "Lumi lip gloss", at=T0, brand="Lumi", category="cosmetics")
        aster = f.product(s, 902, "Aster serum", at=T0, brand="Aster", category="cosmetics")
        for n in range(popular):
            m = member(s, n, birth_year=T0.year - 21, gender="female", owner_id=owner.id)
            sale(s, owner.id, m.id, lumi, quantity=2)
            if n < rare:
                sale(s, owner.id, m.id, aster)
        for n in range(30):  # men, and women who never consented to share gender: never in "female" groups
            m = member(s, 100 + n, birth_year=T0.year - 22, gender="male" if n < 15 else "female", owner_id=owner.id,
                       consents=("profile.age_band", "profile.gender") if n < 15 else ("profile.age_band",))
            sale(s, owner.id, m.id, aster)
        for n in range(25):  # unfinished orders do not count
            m = member(s, 200 + n, birth_year=T0.year - 21, gender="female", owner_id=owner.id)
            sale(s, owner.id, m.id, aster, status="cancelled")
        sharing.apply_agreement_policy(s, owner_merchant_id=owner.id, partner_merchant_id=partner.id, document={
            "permissions": [{"data_class": "aggregated_stats", "purposes": ["recommendation"]}]},
            agreement_id="agr_x", now=T0)
        return (owner.id, partner.id, f.api_key(s, owner, at=T0), f.api_key(s, partner, at=T0),
                f.api_key(s, stranger, at=T0))


def test_only_groups_of_at_least_k_members_leave_and_the_answer_is_logged(client, db):
    owner, _, owner_key, partner_key, _ = network(db)
    answer = client.get(AGG, headers=auth(partner_key), params={
        "owner_merchant_id": owner, "purpose": "recommendation", "group_by": "brand", "gender": "female",
        "age_min": 20, "age_max": 25})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["min_group_size"] == 20
    assert body["groups"] == [{"key": {"brand": "Lumi"}, "members": 22, "units": 44}]
    assert body["suppressed_groups"] == 1  # Aster: 5 consenting women, below k

    by_gender = client.get(AGG, headers=auth(partner_key), params={
        "owner_merchant_id": owner, "purpose": "recommendation", "group_by": ["brand", "gender"]}).json()
    # 15 consenting men bought Aster (< 20); the 15 women without gender consent are in no gender group
    assert by_gender["groups"] == [{"key": {"brand": "Lumi", "gender": "female"}, "members": 22, "units": 44}]

    log = client.get("/api/v1/sharing/disclosures", headers=auth(owner_key)).json()
    assert len(log) == 2 and {d["payload_kind"] for d in log} == {"aggregated_stats"}
    assert log[0]["classes_sent"] == ["aggregated_stats"] and log[0]["purpose"] == "recommendation"


def test_a_raised_k_suppresses_more_and_no_agreement_means_403(client, db):
    owner, partner, owner_key, partner_key, stranger_key = network(db)
    with db.unit_of_work() as s:
        sharing.apply_agreement_policy(s, owner_merchant_id=owner, partner_merchant_id=partner,
                                       document={"permissions": [{"data_class": "aggregated_stats",
                                                                  "purposes": ["recommendation"]}],
                                                 "constraints": {"min_group_size": 25}},
                                       agreement_id="agr_y", now=T0)
    raised = client.get(AGG, headers=auth(partner_key), params={
        "owner_merchant_id": owner, "purpose": "recommendation", "group_by": "brand"}).json()
    assert raised["min_group_size"] == 25
    assert raised["groups"] == [{"key": {"brand": "Aster"}, "members": 35, "units": 35}]  # 5 + 30; Lumi's 22 gone

    assert client.get(AGG, headers=auth(stranger_key), params={
        "owner_merchant_id": owner, "purpose": "recommendation", "group_by": "brand"}).status_code == 403
    assert client.get(AGG, headers=auth(partner_key), params={  # permitted for recommendation, not marketing
        "owner_merchant_id": owner, "purpose": "marketing", "group_by": "brand"}).status_code == 403
    assert client.get(AGG, headers=auth(partner_key), params={
        "owner_merchant_id": owner, "purpose": "recommendation", "group_by": "shoe_size"}).status_code == 422
    assert len(client.get("/api/v1/sharing/disclosures", headers=auth(owner_key)).json()) == 1

