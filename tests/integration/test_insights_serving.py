"""Serving recommendations from the precomputed tables: each kind, the availability filter (here, delivered,
shipped, or not at all), consent (withdrawing purchase history removes personal answers at once), clear
problems for bad parameters, and another merchant's staff seeing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from oao.insights.models import DueItem, ItemNeighbour, MemberRecommendation, PopularItem
from oao.members import service as members
from tests.conftest import T0
from tests.factories import auth
from tests.integration import insights_network as netmod


def _precomputed(s, net) -> None:
    """What a training run would have written, chosen so each filter has something to remove."""
    p, m, run = net.products, net.merchant_id, "irun_test"
    # for_you: p8 (only at the far store), p9 (no stock), p11 (not offered) must be filtered out.
    for rank, i in enumerate([8, 0, 9, 6, 11, 7, 2], 1):
        s.execute(insert(MemberRecommendation), [{"merchant_id": m, "member_id": net.mei, "product_id": p[i],
                                                  "rank": rank, "score": 1.0 / rank, "run_id": run}])
    s.execute(insert(ItemNeighbour), [
        {"merchant_id": m, "product_id": p[1], "neighbour_id": p[j], "rank": r, "score": sc, "run_id": run}
        for r, (j, sc) in enumerate([(0, 0.9), (9, 0.8), (3, 0.5)], 1)] + [
        {"merchant_id": m, "product_id": p[2], "neighbour_id": p[j], "rank": r, "score": sc, "run_id": run}
        for r, (j, sc) in enumerate([(3, 0.7), (1, 0.6)], 1)])
    s.execute(insert(PopularItem), [
        {"merchant_id": m, "location_id": net.shop, "segment": "", "product_id": p[j], "rank": r,
         "score": 1.0 / r, "buyers": 30, "run_id": run} for r, j in enumerate([3, 10, 4, 0, 5], 1)] + [
        {"merchant_id": m, "location_id": "", "segment": "", "product_id": p[j], "rank": r,
         "score": 1.0 / r, "buyers": 30, "run_id": run} for r, j in enumerate([4, 7, 3], 1)] + [
        {"merchant_id": m, "location_id": "", "segment": "age:25-34", "product_id": p[j], "rank": r,
         "score": 1.0 / r, "buyers": 25, "run_id": run} for r, j in enumerate([5, 2], 1)])
    s.execute(insert(DueItem), [
        {"merchant_id": m, "member_id": net.mei, "product_id": p[1], "last_bought_at": T0 - timedelta(days=27),
         "interval_days": 30.0, "due_at": T0 + timedelta(days=3), "confidence": 0.8, "purchases": 5, "run_id": run},
        {"merchant_id": m, "member_id": net.mei, "product_id": p[2], "last_bought_at": T0 - timedelta(days=10),
         "interval_days": 90.0, "due_at": T0 + timedelta(days=80), "confidence": 0.5, "purchases": 3,
         "run_id": run}])


@pytest.fixture
def net(db):
    with db.unit_of_work() as s:
        n = netmod.build(s, at=T0 - timedelta(days=1))
        _precomputed(s, n)
    return n


def _get(client, net, key=None, member=None, **params):
    params.setdefault("location", net.shop)
    return client.get(f"/api/v1/members/{member or net.mei_ref}/recommendations", params=params,
                      headers=auth(key or net.staff_key))


def _ids(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [i["product_id"] for i in r.json()["items"]]


def test_for_you_keeps_only_what_she_can_get_here_delivered_or_shipped(client, net):
    r = _get(client, net, kind="for_you")
    p = net.products
    assert _ids(r) == [p[0], p[6], p[7], p[2]]
    items = {i["product_id"]: i for i in r.json()["items"]}
    assert items[p[0]]["reach"] == "here" and items[p[0]]["available_here"] == 10
    assert items[p[6]]["reach"] == "shipping" and items[p[6]]["reach_text"] == "Ships from Jade Warehouse"
    assert items[p[7]]["reach"] == "delivery" and items[p[7]]["reach_text"] == "Delivered from Jade Kaixuan"
    assert items[p[0]]["title"] == "Product 0" and items[p[0]]["price_minor"] == 1000
    assert items[p[0]]["reason"] == "Picked for you from what you buy here"
    assert r.json()["personal"] is True and r.json()["kind"] == "for_you"
    kiosk = _get(client, net, kind="for_you", channel="kiosk", limit=1).json()["items"]
    assert [(i["product_id"], i["price_minor"]) for i in kiosk] == [(p[0], 900)]


def test_bought_together_names_the_product_it_was_bought_with_and_skips_the_basket(client, net):
    p = net.products
    r = _get(client, net, kind="bought_together", product=p[1])
    assert _ids(r) == [p[0], p[3]]  # p9 has no stock anywhere
    assert r.json()["items"][0]["reason"] == "Bought with Product 1"
    both = _get(client, net, kind="bought_together", basket=f"{p[1]},{p[2]}")
    assert _ids(both) == [p[3], p[0]]  # p3 is a neighbour of both (0.5 + 0.7); p1 is in the basket


def test_popular_here_skips_what_is_sold_out(client, net):
    p = net.products
    r = _get(client, net, kind="popular_here")
    assert _ids(r) == [p[3], p[4], p[0], p[5]]  # p10 sold out here and nowhere else
    assert {i["reason"] for i in r.json()["items"]} == {"Popular here"}
    elsewhere = _get(client, net, kind="popular_here", location=net.delivering)
    # No list for that store yet: the merchant's best sellers, of which only p7 can reach a shopper there.
    assert _ids(elsewhere) == [p[7]]
    assert elsewhere.json()["items"][0]["reason"] == "Popular with our shoppers"


def test_due_soon_says_her_cycle_and_when(client, net):
    r = _get(client, net, kind="due_soon")
    assert _ids(r) == [net.products[1]]  # the 90-day one is not due within two weeks
    assert r.json()["items"][0]["reason"] == "You buy this every ~30 days, due in 3 days"


def test_attributes_match_a_reading_the_kiosk_sends(client, net):
    r = _get(client, net, kind="attributes", reading="skin_type:dry")
    p = net.products
    # dry: p0, p2, p4 (+p6, p8, p10 by the 6-cycle); p8 only far away and p10 sold out; the shop's sellers first
    assert _ids(r) == [p[4], p[0], p[2], p[6]]
    assert r.json()["items"][0]["reason"] == "Fits dry skin"
    assert _ids(_get(client, net, kind="attributes", reading="skin_type:oily,finish:matte")) == []


def test_the_blend_puts_her_own_items_first_then_due_then_her_age_band_then_popular(client, net):
    r = _get(client, net, limit=20)
    items = r.json()["items"]
    p = net.products
    assert [i["product_id"] for i in items] == [p[0], p[6], p[7], p[2], p[1], p[5], p[3], p[4]]
    assert [i["kind"] for i in items] == ["for_you"] * 4 + ["due_soon", "popular_age_band", "popular_here",
                                                            "popular_here"]
    assert items[5]["reason"] == "Popular with shoppers aged 25-34"


def test_withdrawing_purchase_history_consent_removes_personal_answers_at_once(client, net, db, clock):
    assert _ids(_get(client, net, kind="for_you"))
    with db.unit_of_work() as s:
        token, _ = members.start_session(s, member_id=net.mei, now=clock.now())
    r = client.post("/api/v1/me/consents/withdraw", headers=auth(token),
                    json={"merchant_id": net.merchant_id, "data_classes": ["purchase_history"]})
    assert r.status_code == 200, r.text
    assert _ids(_get(client, net, kind="for_you")) == []
    assert _ids(_get(client, net, kind="due_soon")) == []
    blend = _get(client, net, limit=20).json()
    assert blend["personal"] is False
    assert {i["kind"] for i in blend["items"]} == {"popular_age_band", "popular_here"}
    assert "only non-personal" in blend["notes"][0]
    # Her own view follows the same consent.
    mine = client.get("/api/v1/me/recommendations", params={"merchant": net.merchant_id, "kind": "for_you"},
                      headers=auth(token))
    assert mine.status_code == 200 and mine.json()["items"] == []


def test_popular_in_her_age_band_needs_her_age_band_consent(client, net, db, clock):
    assert _ids(_get(client, net, kind="popular_age_band")) == [net.products[5], net.products[2]]
    with db.unit_of_work() as s:
        members.withdraw_consents(s, member_id=net.mei, merchant_id=net.merchant_id,
                                  data_classes=["profile.age_band"], now=clock.now())
    r = _get(client, net, kind="popular_age_band")
    assert _ids(r) == [] and "age band" in r.json()["notes"][0]


def test_a_member_sees_her_own_suggestions_with_her_session(client, net, db, clock):
    with db.unit_of_work() as s:
        token, _ = members.start_session(s, member_id=net.mei, now=clock.now())
    r = client.get("/api/v1/me/recommendations", params={"merchant": net.merchant_id, "kind": "for_you"},
                   headers=auth(token))
    p = net.products
    # Without a location, any of the merchant's locations counts, the far store too; online prices.
    assert _ids(r) == [p[8], p[0], p[6], p[7], p[2]]
    assert r.json()["items"][0]["reach"] == "elsewhere" and r.json()["items"][0]["price_minor"] == 1800
    at_shop = client.get("/api/v1/me/recommendations", headers=auth(token),
                         params={"merchant": net.merchant_id, "location": net.shop, "kind": "for_you"})
    assert _ids(at_shop) == [p[0], p[6], p[7], p[2]]
    assert client.get("/api/v1/me/recommendations", params={"merchant": net.merchant_id},
                      headers=auth(net.staff_key)).status_code == 401
    assert client.get("/api/v1/me/recommendations", params={"merchant": net.merchant_id, "location": net.other_shop},
                      headers=auth(token)).status_code == 404


@pytest.mark.parametrize(("params", "status", "words"), [
    ({"location": "loc_nope"}, 404, "No location"),
    ({"kind": "nonsense"}, 422, "kind must be one of"),
    ({"limit": 0}, 422, "limit must be between 1 and 50"),
    ({"limit": 51}, 422, "limit must be between 1 and 50"),
    ({"kind": "bought_together"}, 422, "needs `product="),
    ({"kind": "attributes"}, 422, "needs a reading"),
    ({"kind": "attributes", "reading": "dry"}, 422, "key:value"),
    ({"channel": "fax"}, 422, "channel must be one of"),
])
def test_bad_parameters_get_clear_problems(client, net, params, status, words):
    r = _get(client, net, **params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert words in r.json()["detail"]


def test_an_unknown_member_ref_is_a_404(client, net):
    r = _get(client, net, member="mref_unknown")
    assert r.status_code == 404 and "No member" in r.json()["detail"]


def test_another_merchants_staff_get_404_for_the_location_and_the_member(client, net, db):
    r = _get(client, net, key=net.other_key)
    assert r.status_code == 404 and "No location" in r.json()["detail"]
    with db.read() as s:
        other_ref = members.member_ref_for(s, merchant_id=net.other_merchant_id, member_id=net.mei)
    # Her ref at the other merchant means nothing at this one, and the other's location is not ours.
    assert _get(client, net, member=other_ref).status_code == 404
    assert _get(client, net, key=net.other_key, member=other_ref).status_code == 404


def test_training_runs_are_requested_by_merchant_admins_once_and_listed(client, net):
    forbidden = client.post("/api/v1/insights/runs", json={"kind": "recommendations"}, headers=auth(net.staff_key))
    assert forbidden.status_code == 403
    first = client.post("/api/v1/insights/runs", json={"kind": "recommendations"},
                        headers={**auth(net.admin_key), "Idempotency-Key": "run-1"})
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "requested" and first.json()["merchant_id"] == net.merchant_id
    replay = client.post("/api/v1/insights/runs", json={"kind": "recommendations"},
                         headers={**auth(net.admin_key), "Idempotency-Key": "run-1"})
    again = client.post("/api/v1/insights/runs", json={"kind": "recommendations"}, headers=auth(net.admin_key))
    assert replay.json()["id"] == again.json()["id"] == first.json()["id"]  # one pending run per merchant and kind
    bad = client.post("/api/v1/insights/runs", json={"kind": "forecasts?"}, headers=auth(net.admin_key))
    assert bad.status_code == 422
    listed = client.get("/api/v1/insights/runs", headers=auth(net.staff_key))
    assert [r["id"] for r in listed.json()] == [first.json()["id"]]
    assert client.get("/api/v1/insights/runs", headers=auth(net.other_key)).json() == []
    assert client.get("/api/v1/insights/runs", params={"merchant_id": net.merchant_id},
                      headers=auth(net.other_key)).status_code == 404


# --- pages ----------------------------------------------------------------------------------------

def test_the_kiosk_suggests_her_items_her_skin_matches_and_her_age_band_from_its_own_shelves(db, net, clock):
    from oao.web.store import kiosk_suggestions

    p = net.products
    with db.read() as s:
        sections = kiosk_suggestions.personal_sections(s, merchant_id=net.merchant_id, location_id=net.shop,
                                                       member_ref=net.mei_ref, skin_type="dry", channel="kiosk",
                                                       now=clock.now())
        guest = kiosk_suggestions.personal_sections(s, merchant_id=net.merchant_id, location_id=net.shop,
                                                    member_ref=None, skin_type=None, channel="kiosk",
                                                    now=clock.now())
    shown = {sec.key: [t.product_id for t in sec.tiles] for sec in sections}
    # Only what the kiosk can sell from this store's shelves: p6 (shipped) and p7 (delivered) stay off.
    assert shown == {"for_you": [p[0], p[2]], "skin": [p[4], p[0], p[2]], "age_band": [p[5], p[2]]}
    assert [sec.heading for sec in sections] == ["Picked for you", "For your dry skin",
                                                 "Popular with shoppers aged 25-34"]
    assert sections[0].tiles[0].unit_price_minor == 900  # the kiosk's channel price
    assert guest == []


def test_the_product_page_shows_what_is_often_bought_together_and_can_be_had(client, net):
    p = net.products
    page = client.get(f"/shop/products/{p[1]}")
    assert page.status_code == 200
    section = page.text.split('id="together-h"', 1)[1].split("</section>", 1)[0]
    assert "Product 0" in section and "Product 3" in section
    assert "Product 9" not in section  # nobody holds it
    assert "Often bought together" not in client.get(f"/shop/products/{p[5]}").text


def test_the_member_area_lists_for_you_and_due_soon_until_she_withdraws_consent(client, net, db, clock):
    from oao.core.auth import hash_password
    from oao.members.models import Member

    with db.unit_of_work() as s:
        mei = s.get(Member, net.mei)
        mei.password_hash = hash_password(netmod.PASSWORD)
        email = mei.email
    login = client.post("/shop/login", data={"login": email, "password": netmod.PASSWORD,
                                             "next": "/shop/me/suggestions"})
    assert login.status_code == 200, login.text
    assert 'data-suggestions="for_you"' in login.text and 'data-suggestions="due_soon"' in login.text
    assert "You buy this every ~30 days, due in 3 days" in login.text
    with db.unit_of_work() as s:
        members.withdraw_consents(s, member_id=net.mei, merchant_id=net.merchant_id,
                                  data_classes=["purchase_history"], now=clock.now())
    after = client.get("/shop/me/suggestions")
    assert "data-suggestions" not in after.text and "No suggestions yet" in after.text
