"""Stock visibility across a link: the owner chooses which products (by GTIN, or all it
offers) and how precisely; the partner reads availability per GTIN and location through a
signed request, only when `stock_visibility` was negotiated and only what the owner's
data-sharing policy permits; the asking side caches answers and finds who has a GTIN near
a point."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from oao.core.auth import Role
from oao.core.errors import InvalidState
from oao.federation import stock
from oao.federation.models import FederationLink
from oao.sharing.models import Disclosure
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.integration.test_federation_signed_requests import _send

STOCK_CAPS = ("order_handoff", "stock_visibility", "pickup")


def _link(s, merchant, link_id, capabilities=STOCK_CAPS, remote="https://a.example"):
    link = FederationLink(
        id=link_id, merchant_id=merchant.id, status="active", remote_url=remote, remote_key_id="fky_partner",
        remote_public_key=_partner_public(), remote_link_id="fln_a", remote_merchant={"id": "mer_a", "name": "Partner"},
        offered=list(capabilities), remote_offered=list(capabilities), capabilities=list(capabilities),
        terms={}, remote_terms={}, invitation_id=None, handshake_nonce=None, last_error=None, created_at=T0,
        updated_at=T0)
    s.add(link)
    s.flush()
    return link


def _partner_public():
    from oao.federation.signatures import public_key_of
    from tests.integration.test_federation_signed_requests import PARTNER_KEY

    return public_key_of(PARTNER_KEY)


def _setup(db, capabilities=STOCK_CAPS):
    with db.unit_of_work() as s:
        jade = f.merchant(s, "Jade Petal Cosmetics", at=T0)
        gloss = f.product(s, 801, "Lip gloss, rose", at=T0)
        balm = f.product(s, 802, "Lip balm", at=T0)
        secret = f.product(s, 803, "Unreleased serum", at=T0)
        for p in (gloss, balm, secret):
            f.offer(s, jade, p, 9900, at=T0)
        kiosk = f.location(s, jade, "Jade kiosk West Lake", 30.2590, 120.1480, at=T0)
        mall = f.location(s, jade, "Jade Intime mall", 30.2750, 120.1620, at=T0)
        depot = f.location(s, jade, "Jade depot", 30.3000, 120.2000, at=T0, kind="warehouse")
        f.stock(s, kiosk, gloss, 3, at=T0)
        f.stock(s, mall, gloss, 25, at=T0)
        f.stock(s, depot, gloss, 500, at=T0)
        f.stock(s, mall, secret, 7, at=T0)
        link = _link(s, jade, "fln_test", capabilities)
        key = f.api_key(s, jade, at=T0, role=Role.MERCHANT_ADMIN)
        return {"key": key, "merchant": jade.id, "link": link.id, "gloss": gloss.gtin14, "balm": balm.gtin14,
                "secret": secret.gtin14, "kiosk": kiosk.id, "mall": mall.id, "depot": depot.id}


def _permit_stock(client, net):
    r = client.put(f"/api/v1/sharing/policies/federated_instance/{net['link']}", headers=auth(net["key"]), json={
        "permissions": [{"data_class": "stock_levels", "purposes": ["fulfillment"]}]})
    assert r.status_code == 200, r.text


def _share(client, net, **body):
    return client.put(f"/api/v1/federation/links/{net['link']}/stock-sharing", headers=auth(net["key"]), json=body)


def _ask(client, net, *gtins):
    query = "&".join(f"gtin={g}" for g in gtins)
    r, _ = _send(client, "GET", f"/api/v1/federation/links/{net['link']}/stock" + (f"?{query}" if query else ""))
    return r


def test_the_partner_sees_bands_of_the_shared_products_only(client, db):
    net = _setup(db)
    _permit_stock(client, net)
    assert _share(client, net, scope="gtins", gtins=[net["gloss"], net["balm"]]).status_code == 200

    r = _ask(client, net, net["gloss"], net["secret"])
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["gtin"] == net["gloss"], "a product not on the link's list is never shown"
    places = {a["location_id"]: a for a in item["availability"]}
    assert set(places) == {net["kiosk"], net["mall"]}, "stores only, not the warehouse"
    assert places[net["kiosk"]]["band"] == "few" and places[net["mall"]]["band"] == "many"
    assert "quantity" not in places[net["mall"]], "bands by default, never the figure"
    assert r.json()["precision"] == "bands" and r.json()["as_of"].startswith(T0.date().isoformat())

    everything = _ask(client, net)
    assert sorted(i["gtin"] for i in everything.json()["items"]) == sorted([net["gloss"], net["balm"]])
    with db.read() as s:
        disclosed = list(s.scalars(select(Disclosure.payload_kind).where(Disclosure.recipient_id == net["link"])))
    assert disclosed and set(disclosed) == {"federation.stock_levels"}


def test_exact_figures_and_all_products_when_the_owner_says_so(client, db):
    net = _setup(db)
    _permit_stock(client, net)
    assert _share(client, net, scope="all", precision="exact").status_code == 200
    r = _ask(client, net, net["secret"])
    [item] = r.json()["items"]
    assert {a["location_id"]: a["quantity"] for a in item["availability"]} == {net["kiosk"]: 0, net["mall"]: 7}


def test_nothing_is_shown_before_the_owner_chooses_products(client, db):
    net = _setup(db)
    _permit_stock(client, net)
    r = _ask(client, net, net["gloss"])
    assert r.status_code == 200 and r.json()["items"] == []


def test_a_policy_that_withholds_stock_levels_refuses_rather_than_sends_a_crippled_answer(client, db):
    net = _setup(db)
    assert _share(client, net, scope="all").status_code == 200
    r = _ask(client, net, net["gloss"])  # the network baseline does not permit stock_levels
    assert r.status_code == 409 and "stock_levels" in r.json()["detail"]


def test_without_stock_visibility_on_the_link_the_route_and_the_share_are_forbidden(client, db):
    net = _setup(db, capabilities=("order_handoff", "pickup"))
    _permit_stock(client, net)
    assert _share(client, net, scope="all").status_code == 403
    assert _ask(client, net, net["gloss"]).status_code == 403
    unsigned = client.get(f"/api/v1/federation/links/{net['link']}/stock")
    assert unsigned.status_code == 401


def test_a_bad_gtin_is_refused(client, db):
    net = _setup(db)
    assert _share(client, net, scope="gtins", gtins=["12345"]).status_code == 422


def _answer(gtin, *rows, as_of=T0):
    return {"merchant": {"id": "mer_x", "name": "Partner"}, "as_of": as_of.isoformat(), "precision": "bands",
            "items": [{"gtin": gtin, "availability": [
                {"location_id": loc, "location_name": name, "latitude": lat, "longitude": lon, "band": band}
                for loc, name, lat, lon, band in rows]}]}


def test_who_has_answers_nearest_first_from_fresh_cache_within_the_radius(db):
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
        other = f.merchant(s, "Blue Harbour Fresh", at=T0)
        _link(s, bakery, "fln_one")
        _link(s, bakery, "fln_two", remote="https://c.example")
        _link(s, bakery, "fln_basic", capabilities=("order_handoff", "pickup"))
        _link(s, other, "fln_foreign")
    gtin = "06901234567892"
    with db.unit_of_work() as s:
        stock.store_remote_stock(s, link_id="fln_one", asked=[gtin], now=T0, payload=_answer(
            gtin, ("loc_far", "Far", 30.40, 120.30, "many"), ("loc_near", "Near", 30.251, 120.151, "few"),
            ("loc_empty", "Empty", 30.250, 120.150, "none")))
        stock.store_remote_stock(s, link_id="fln_two", asked=[gtin], now=T0 - timedelta(hours=1), payload=_answer(
            gtin, ("loc_old", "Old news", 30.252, 120.152, "some")))
        for link_id in ("fln_basic", "fln_foreign"):
            stock.store_remote_stock(s, link_id=link_id, asked=[gtin], now=T0, payload=_answer(
                gtin, ("loc_x", "Not for us", 30.25, 120.15, "many")))

    with db.read() as s:
        mine = s.scalar(select(FederationLink.merchant_id).where(FederationLink.id == "fln_one"))
        found = stock.who_has(s, merchant_id=mine, gtin=gtin, latitude=30.25, longitude=120.15, now=T0,
                              radius_km=5)
        assert [(a.link_id, a.location_id, a.band) for a in found] == [("fln_one", "loc_near", "few")]
        assert found[0].distance_km < 1 and found[0].partner["name"] == "Partner"
        stale = stock.who_has(s, merchant_id=mine, gtin=gtin, latitude=30.25, longitude=120.15, now=T0,
                              radius_km=5, include_stale=True)
        assert [a.location_id for a in stale] == ["loc_near", "loc_old"] and stale[1].stale
        wide = stock.who_has(s, merchant_id=mine, gtin=gtin, latitude=30.25, longitude=120.15, now=T0, radius_km=50)
        assert [a.location_id for a in wide] == ["loc_near", "loc_far"]
        assert stock.stale_gtins(s, link_id="fln_two", gtins=[gtin], now=T0) == [gtin]
        assert stock.stale_gtins(s, link_id="fln_one", gtins=[gtin], now=T0) == []


def test_a_new_answer_replaces_the_cached_one(db):
    with db.unit_of_work() as s:
        _link(s, f.merchant(s, "Sweet Lane Bakery", at=T0), "fln_one")
    gtin = "06901234567892"
    with db.unit_of_work() as s:
        stock.store_remote_stock(s, link_id="fln_one", asked=[gtin], now=T0,
                                 payload=_answer(gtin, ("loc_a", "A", 30.25, 120.15, "many")))
    with db.unit_of_work() as s:  # sold out and no longer listed: the old row must not linger
        stock.store_remote_stock(s, link_id="fln_one", asked=[gtin], now=T0, payload={"items": []})
    with db.read() as s:
        assert stock.who_has(s, merchant_id=None, gtin=gtin, latitude=30.25, longitude=120.15, now=T0) == []


@pytest.mark.parametrize(("quantity", "band"), [(0, "none"), (1, "few"), (4, "few"), (5, "some"), (19, "some"),
                                                (20, "many")])
def test_bands(quantity, band):
    assert stock.band_of(quantity) == band


def test_the_owner_refuses_a_payload_its_policy_strips(db):
    net = _setup(db)
    with db.unit_of_work() as s:
        from oao.federation.models import FederationStockShare

        s.add(FederationStockShare(link_id=net["link"], scope="all", gtins=[], precision="bands", updated_at=T0))
        s.flush()
        link = s.get(FederationLink, net["link"])
        with pytest.raises(InvalidState):
            stock.stock_payload(s, link=link, gtins=[net["gloss"]], now=T0)
