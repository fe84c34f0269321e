"""The storefront's member area: log in and sign up (sharing the /members session),
the rotating member code, points and their statement, consent switches, and the
points choices the checkout offers."""

from __future__ import annotations

import re

import pytest
from starlette.requests import Request

from oao.core.errors import InvalidInput
from oao.members import service as members
from oao.members.web import COOKIE
from oao.web.shop.member_area import points_options_for, points_request_from_form
from tests.e2e.test_oidc_external_login import oao, provider  # noqa: F401, F811 - fixtures
from tests.factories import auth
from tests.integration.test_order_points_payment import Shop

CODE = re.compile(r'data-member-code="([0-9A-Z]{18})"')
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def _log_in(client, login="mei@example.com", password="demo-password", next="/shop/me"):
    return client.post("/shop/login", data={"login": login, "password": password, "next": next},
                       follow_redirects=False)


def test_member_pages_send_a_visitor_to_the_login_page_and_back(client, db):
    Shop(db)
    for path in ("/shop/me", "/shop/me/consents", "/shop/me/points/lpg_x"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/shop/login?next=%2Fshop%2Fme")
    page = client.get("/shop/login?next=/shop/me/consents")
    assert page.status_code == 200 and 'value="/shop/me/consents"' in page.text
    assert 'for="login"' in page.text and 'for="password"' in page.text
    wrong = _log_in(client, password="not-her-password")
    assert wrong.status_code == 401 and "Wrong email/phone or password" in wrong.text
    r = _log_in(client, next="//evil.example/steal")
    assert r.status_code == 303 and r.headers["location"] == "/shop/me"  # no open redirect
    r = _log_in(client, next="/shop/me/consents")
    assert r.headers["location"] == "/shop/me/consents"
    assert client.get("/shop/login", follow_redirects=False).status_code == 303  # already logged in
    assert client.get("/members/me").status_code == 200  # one session for /shop and /members


def test_signing_up_logs_the_shopper_in_and_mistakes_are_shown_on_the_form(client, db):
    Shop(db)
    taken = client.post("/shop/signup", data={"name": "Mei again", "login": "mei@example.com",
                                               "password": "long-enough-1"})
    assert taken.status_code == 409 and "already exists" in taken.text and 'value="Mei again"' in taken.text
    short = client.post("/shop/signup", data={"name": "Bo", "login": "+86 138 0000 1111", "password": "short"})
    assert short.status_code == 422 and "8 to 200 characters" in short.text
    ok = client.post("/shop/signup", data={"name": "Bo", "login": "+86 138 0000 1111", "password": "long-enough-1"},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/shop/me"
    me = client.get("/shop/me")
    assert me.status_code == 200 and ", Bo</h1>" in me.text
    assert "No points yet" in me.text


def test_the_member_card_shows_a_fresh_code_that_a_till_can_redeem(client, db):
    shop = Shop(db)
    _log_in(client)
    page = client.get("/shop/me")
    assert page.status_code == 200 and "Mei</h1>" in page.text
    assert page.text.count("<svg") >= 2  # the QR and the Code 128 barcode
    assert 'hx-get="/shop/me/code"' in page.text and 'hx-trigger="load delay:55s"' in page.text
    shown = CODE.search(page.text).group(1)
    fresh = client.get("/shop/me/code", headers={"HX-Request": "true"})
    assert fresh.status_code == 200 and "<html" not in fresh.text and CODE.search(fresh.text).group(1) != shown
    redeemed = client.post("/api/v1/member-codes/redeem", json={"code": shown}, headers=auth(shop.key))
    assert redeemed.status_code == 200 and redeemed.json()["member_ref"] == shop.member_ref


def test_points_balance_and_statement_say_what_happened_and_where(client, db):
    shop = Shop(db)
    order = shop.order(client, amount=2000, payment_method="pay_at_pickup").json()
    assert order["points"]["status"] == "spent"
    _log_in(client)
    me = client.get("/shop/me").text
    assert "Network points" in me and "8,000</span> points" in me and "worth ¥80.00" in me
    assert f'href="/shop/me/points/{shop.programme_id}"' in me
    statement = client.get(f"/shop/me/points/{shop.programme_id}")
    assert statement.status_code == 200
    text = re.sub(r"\s+", " ", statement.text)
    assert "Welcome" in text and "+10,000" in text
    assert "Spent" in text and "Lakeside Noodles · online order" in text and "-2,000" in text
    assert "balance 8,000" in text
    assert client.get("/shop/me/points/lpg_unknown").status_code == 404


def test_consent_switches_work_as_plain_forms_and_with_htmx(client, db, clock):
    shop = Shop(db)
    _log_in(client)
    page = client.get("/shop/me/consents")
    assert page.status_code == 200 and "Lakeside Noodles" in page.text
    assert 'role="switch" aria-checked="false"' in page.text and "your age band (not your birth date)" in page.text
    csrf = CSRF.search(page.text).group(1)
    change = {"merchant_id": shop.merchant_id, "data_class": "profile.name", "share": "on"}

    forged = client.post("/shop/me/consents", data=change, follow_redirects=False)
    assert forged.status_code == 403

    plain = client.post("/shop/me/consents", data={**change, "csrf": csrf}, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"].startswith("/shop/me/consents?done=")
    with db.read() as s:
        assert members.consented_classes(s, member_id=shop.member_id, merchant_id=shop.merchant_id,
                                         now=clock.now()) == {"profile.name"}
    assert "Lakeside Noodles can now see your name" in client.get(plain.headers["location"]).text

    swapped = client.post("/shop/me/consents", data={**change, "share": "off"},
                          headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert swapped.status_code == 200 and "<html" not in swapped.text
    assert 'aria-checked="false"' in swapped.text and "no longer sees your name" in swapped.text
    with db.read() as s:
        assert members.consented_classes(s, member_id=shop.member_id, merchant_id=shop.merchant_id,
                                         now=clock.now()) == set()
    bad = client.post("/shop/me/consents", data={**change, "data_class": "shoe_size", "csrf": csrf})
    assert bad.status_code == 422


def test_logging_out_ends_the_session_everywhere(client, db):
    Shop(db)
    _log_in(client)
    csrf = CSRF.search(client.get("/shop/me").text).group(1)
    out = client.post("/shop/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/shop"
    assert client.get("/shop/me", follow_redirects=False).status_code == 303
    assert client.get("/members/me", follow_redirects=False).status_code == 303


def _request(app, token: str | None) -> Request:
    headers = [(b"cookie", f"{COOKIE}={token}".encode())] if token else []
    return Request({"type": "http", "app": app, "headers": headers, "method": "GET", "path": "/shop/checkout",
                    "query_string": b""})


def test_points_options_offer_what_the_shopper_can_pay_in_the_order_currency(app, client, db):
    Shop(db, points=5000)
    assert points_options_for(_request(app, None), total_minor=7200, currency="CNY") == []
    token = _log_in(client).cookies.get(COOKIE) or client.cookies.get(COOKIE)
    [option] = points_options_for(_request(app, token), total_minor=7200, currency="CNY")
    assert option["balance_points"] == 5000 and option["max_amount_minor"] == 5000 and option["currency"] == "CNY"
    assert option["max_amount"] == "¥50.00" and not option["covers_total"]
    [small] = points_options_for(_request(app, token), total_minor=1200, currency="CNY")
    assert small["max_amount_minor"] == 1200 and small["covers_total"]
    assert points_options_for(_request(app, token), total_minor=7200, currency="USD") == []


def test_the_checkout_points_fields_become_a_points_request():
    assert points_request_from_form(points_programme="") is None
    assert points_request_from_form(points_programme="lpg_1", points_amount="50").amount_minor == 5000
    assert points_request_from_form(points_programme="lpg_1", points_amount="¥12.34").amount_minor == 1234
    assert points_request_from_form(points_programme="lpg_1", points_amount="1",
                                    points_amount_minor="250").amount_minor == 250
    assert points_request_from_form(points_programme="lpg_1", points_amount="50.00",
                                    total_minor=3600).amount_minor == 3600  # never more than the order costs
    for bad in ("", "abc", "0", "-5", "1.234", "NaN"):
        with pytest.raises(InvalidInput):
            points_request_from_form(points_programme="lpg_1", points_amount=bad)


def test_the_pay_with_points_partial_offers_each_card_or_a_log_in_link():
    from oao.web.pages import templates

    partial = templates.env.get_template("shop/_pay_with_points.html")
    option = {"programme_id": "lpg_card", "name": "Hangzhou Card", "balance_points": 5000, "max_amount_minor": 5000,
              "currency": "CNY", "max_amount": "¥50.00", "max_amount_plain": "50.00", "covers_total": False,
              "balance_worth": "¥50.00"}
    one = partial.render(shopper=object(), points_options=[option])
    assert 'type="checkbox" name="points_programme" value="lpg_card"' in one
    assert 'name="points_amount"' in one and 'value="50.00"' in one and "can pay up to ¥50.00" in one
    two = partial.render(shopper=object(), points_options=[option, {**option, "programme_id": "lpg_sweet",
                                                                      "name": "Sweet Lane Card"}])
    assert two.count('type="radio" name="points_programme"') == 3 and "Don't use points" in two
    assert "no points to spend" in partial.render(shopper=object(), points_options=[])
    assert 'href="/shop/login?next=/shop/cart"' in partial.render(shopper=None, points_options=[])


@pytest.mark.slow
def test_logging_in_with_the_external_provider_from_the_shop_lands_on_the_member_card(provider, oao):  # noqa: F811
    from html import unescape
    from urllib.parse import urlsplit

    import httpx

    from tests.e2e.test_oidc_external_login import PASSWORD as PROVIDER_PASSWORD
    from tests.e2e.test_oidc_external_login import provider_member

    page = oao.get("/shop/login?next=/shop/me/consents")
    assert "Log in with WeChat" in page.text
    button = re.search(r'href="(/members/login/external\?next=[^"]+)"', page.text).group(1)
    assert button == "/members/login/external?next=%2Fshop%2Fme%2Fconsents"
    provider_member(provider, verified=True)
    start = oao.get(unescape(button))
    assert start.status_code == 302
    with httpx.Client(follow_redirects=False) as browser:
        consent = browser.get(start.headers["location"])
        query = unescape(re.search(r'name="query" value="([^"]*)"', consent.text).group(1))
        answer = browser.post(f"{provider['url']}/oidc/authorize", data={
            "query": query, "decision": "allow", "login": "li@example.com", "password": PROVIDER_PASSWORD})
    back = urlsplit(answer.headers["location"])
    done = oao.get(f"{back.path}?{back.query}")
    assert done.status_code == 303 and done.headers["location"] == "/shop/me/consents"
    assert oao.get("/shop/me/consents").status_code == 200
