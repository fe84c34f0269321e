"""S14, the richer link: when both systems support more, the link negotiates more. Two OAO
instances on real sockets with their own databases link with stock visibility and member
recognition: the partner sees the bakery's stock of the products it chose to share (bands,
through its data-sharing policy) and finds who has a GTIN near a shopper; a member of the
bakery's instance logs in at the partner "with the bakery's instance" (OIDC code flow with
PKCE), and the partner learns only a pairwise subject scoped to the link."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from oao.catalog.models import Product
from oao.members import service as members
from tests.e2e.test_s14_two_instances import Instance, _bakery, _corner, instances  # noqa: F401

pytestmark = pytest.mark.slow
RICH = ["order_handoff", "stock_visibility", "pickup", "member_recognition"]
PASSWORD = "correct horse battery"


def _rich_link(a: Instance, b: Instance, bakery, corner) -> tuple[dict, dict]:
    too_much = a.api("POST", "/federation/invitations", bakery["key"],
                     json={"capabilities": ["order_handoff", "points_settlement"]})
    assert too_much.status_code == 422, "points settlement needs member recognition on the same link"
    invitation = a.api("POST", "/federation/invitations", bakery["key"], json={"capabilities": RICH})
    assert invitation.status_code == 201, invitation.text
    accepted = b.api("POST", "/federation/links", corner["key"], json={
        "token": invitation.json()["token"], "capabilities": RICH, "pickup_fee_minor": 150})
    assert accepted.status_code == 201, accepted.text
    [link_a] = a.api("GET", "/federation/links", bakery["key"]).json()
    return link_a, accepted.json()


def _cake_gtin(a: Instance, bakery) -> str:
    with a.db.read() as s:
        return s.get(Product, bakery["cake"]).gtin14


def test_a_rich_link_shows_shared_stock_near_the_shopper(instances):  # noqa: F811
    a, b = instances
    bakery, corner = _bakery(a), _corner(b)
    link_a, link_b = _rich_link(a, b, bakery, corner)
    assert link_a["capabilities"] == link_b["capabilities"] == RICH
    gtin = _cake_gtin(a, bakery)

    refresh = f"/federation/links/{link_b['id']}/stock/refresh"
    assert b.api("POST", refresh, corner["key"], json={"gtins": [gtin]}).json() == [], "nothing shared yet"

    policy = a.api("PUT", f"/sharing/policies/federated_instance/{link_a['id']}", bakery["key"], json={
        "permissions": [{"data_class": "stock_levels", "purposes": ["fulfillment"]}]})
    assert policy.status_code == 200, policy.text
    share = a.api("PUT", f"/federation/links/{link_a['id']}/stock-sharing", bakery["key"],
                  json={"scope": "gtins", "gtins": [gtin]})
    assert share.status_code == 200, share.text

    rows = b.api("POST", refresh, corner["key"], json={"gtins": [gtin]})
    assert rows.status_code == 200, rows.text
    [row] = rows.json()
    assert (row["gtin14"], row["remote_location_id"], row["band"], row["quantity"]) == (gtin, bakery["office"],
                                                                                         "few", None)

    near = b.api("GET", f"/federation/stock/nearby?gtin={gtin}&latitude=30.2470&longitude=120.2100&radius_km=3",
                 corner["key"])
    assert near.status_code == 200, near.text
    [found] = near.json()
    assert found["partner"]["name"] == "Sweet Lane Bakery" and found["location_id"] == bakery["office"]
    assert found["distance_km"] < 1 and found["stale"] is False
    far = b.api("GET", f"/federation/stock/nearby?gtin={gtin}&latitude=30.40&longitude=120.40&radius_km=3",
                corner["key"])
    assert far.json() == []

    # The sharing is A's decision alone: B shared nothing, so A sees nothing of B's stock.
    assert a.api("POST", f"/federation/links/{link_a['id']}/stock/refresh", bakery["key"],
                 json={"gtins": [gtin]}).json() == []


def _log_in_at_b_with_a(a: Instance, b: Instance, link_b: dict, email: str) -> tuple[str, httpx.Response]:
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        start = browser.get(f"{b.url}/federation/login/{link_b['id']}?next=/members/me")
        assert start.status_code == 302, start.text
        assert start.headers["location"].startswith(f"{a.url}/oidc/authorize?")
        assert "code_challenge_method=S256" in start.headers["location"]
        page = browser.get(start.headers["location"])
        assert page.status_code == 200, page.text
        assert "Daily Corner" in page.text, "the member sees who asks"
        query = unescape(re.search(r'name="query" value="([^"]*)"', page.text).group(1))
        answer = browser.post(f"{a.url}/oidc/authorize", data={
            "query": query, "decision": "allow", "login": email, "password": PASSWORD})
        assert answer.status_code == 302, answer.text
        back = answer.headers["location"]
        assert back.startswith(f"{b.url}/federation/login/{link_b['id']}/callback?")
        done = browser.get(back, cookies=start.cookies)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/members/me"
        return done.cookies["oao_member"], done


def test_a_member_of_instance_a_is_recognised_at_instance_b_by_a_pairwise_subject(instances):  # noqa: F811
    a, b = instances
    bakery, corner = _bakery(a), _corner(b)
    link_a, link_b = _rich_link(a, b, bakery, corner)
    email = "mei@example.com"
    signed_up = a.api("POST", "/members", json={"email": email, "password": PASSWORD, "name": "Mei"})
    assert signed_up.status_code == 201, signed_up.text
    member_id = signed_up.json()["id"]
    session_a = a.api("POST", "/members/sessions", json={"login": email, "password": PASSWORD}).json()["token"]
    granted = a.api("POST", "/me/consents", session_a, json={"merchant_id": bakery["merchant"],
                                                             "data_classes": ["profile.name"]})
    assert granted.status_code == 201, granted.text

    token, _ = _log_in_at_b_with_a(a, b, link_b, email)
    [identity] = b.api("GET", "/me/identities", token).json()
    with a.db.read() as s:
        for_link = members.member_ref_for(s, merchant_id=link_a["id"], member_id=member_id)
        for_bakery = members.member_ref_for(s, merchant_id=bakery["merchant"], member_id=member_id)
    assert identity["issuer"] == a.url and identity["subject"] == for_link
    assert for_link != for_bakery, "B cannot correlate the member with what the bakery knows"
    profile_b = b.api("GET", "/me/profile", token).json()
    assert profile_b["email"] is None and not profile_b["name"], "recognition, not the profile"

    consents = a.api("GET", "/me/consents", session_a).json()
    assert [(c["merchant_id"], c["data_class"]) for c in consents] == [(bakery["merchant"], "profile.name")], \
        "a partner login never touches the member's consents to the bakery"

    again, _ = _log_in_at_b_with_a(a, b, link_b, email)
    assert b.api("GET", "/me/profile", again).json()["id"] == profile_b["id"], "the same member next time"

    suspended = a.api("POST", f"/federation/links/{link_a['id']}/status", bakery["key"], json={"status": "suspended"})
    assert suspended.status_code == 200
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        start = browser.get(f"{b.url}/federation/login/{link_b['id']}")
        refused = browser.get(start.headers["location"])
        assert refused.status_code == 400, "a suspended link's client is revoked: it logs nobody in"
    assert a.api("POST", f"/federation/links/{link_a['id']}/status", bakery["key"],
                 json={"status": "active"}).status_code == 200
    back, _ = _log_in_at_b_with_a(a, b, link_b, email)
    assert b.api("GET", "/me/profile", back).json()["id"] == profile_b["id"], "reactivated, it works again"


def test_a_basic_link_serves_neither_stock_nor_login(instances):  # noqa: F811
    a, b = instances
    bakery, corner = _bakery(a), _corner(b)
    invitation = a.api("POST", "/federation/invitations", bakery["key"], json={})
    link_b = b.api("POST", "/federation/links", corner["key"], json={"token": invitation.json()["token"]}).json()
    [link_a] = a.api("GET", "/federation/links", bakery["key"]).json()
    assert link_a["capabilities"] == ["order_handoff", "pickup"], "richer levels are opted into"
    refresh = b.api("POST", f"/federation/links/{link_b['id']}/stock/refresh", corner["key"], json={"gtins": []})
    assert refresh.status_code == 403
    share = a.api("PUT", f"/federation/links/{link_a['id']}/stock-sharing", bakery["key"], json={"scope": "all"})
    assert share.status_code == 403
    login = httpx.get(f"{b.url}/federation/login/{link_b['id']}", follow_redirects=False)
    assert login.status_code == 409
