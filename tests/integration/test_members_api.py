"""Members over HTTP: accounts, consents and member codes, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image

from oao.core.auth import Role
from oao.core.errors import Problem
from oao.members import codes, service
from oao.members.models import MemberConsentEvent
from tests import factories as f
from tests.conftest import T0

PASSWORD = "correct horse battery"


@pytest.fixture
def net(db):
    """Two merchants (a bakery and a cinema), a till key for each, a network admin key."""
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Bakery", at=T0)
        cinema = f.merchant(s, "Cinema", at=T0)
        keys = {"bakery": f.api_key(s, bakery, at=T0), "cinema": f.api_key(s, cinema, at=T0),
                "admin": f.api_key(s, None, at=T0, role=Role.NETWORK_ADMIN)}
        return {"bakery": bakery.id, "cinema": cinema.id, "keys": keys}


def sign_up_and_log_in(client, email="li@example.com", **extra):
    r = client.post("/api/v1/members", json={"email": email, "password": PASSWORD, "name": "Li Na", **extra})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/members/sessions", json={"login": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token.startswith("oao_ms_")
    return f.auth(token), r.json()["member"]["id"]


def fresh_code(client, member):
    r = client.post("/api/v1/me/member-codes", headers=member)
    assert r.status_code == 201, r.text
    return r.json()


def redeem(client, key, code):
    return client.post("/api/v1/member-codes/redeem", json={"code": code}, headers=f.auth(key))


def test_a_shopper_signs_up_logs_in_and_edits_her_profile(client):
    member, member_id = sign_up_and_log_in(client)
    me = client.get("/api/v1/me/profile", headers=member).json()
    assert me["id"] == member_id and me["email"] == "li@example.com" and me["email_verified"] is False
    r = client.patch("/api/v1/me/profile", json={"birth_year": 1990, "gender": "female", "phone": "+86 138 0000 0000"},
                     headers=member)
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "+8613800000000"
    r = client.post("/api/v1/members/sessions", json={"login": "+8613800000000", "password": "wrong password"})
    assert r.status_code == 401
    assert client.delete("/api/v1/me/session", headers=member).status_code == 204
    assert client.get("/api/v1/me/profile", headers=member).status_code == 401


def test_a_shopper_can_sign_up_with_a_phone_number(client):
    r = client.post("/api/v1/members", json={"phone": "13800000001", "password": PASSWORD})
    assert r.status_code == 201
    assert client.post("/api/v1/members/sessions", json={"login": "13800000001",
                                                         "password": PASSWORD}).status_code == 201


@pytest.mark.parametrize("body, status", [
    ({"email": "li@example.com", "password": "short"}, 422),
    ({"email": "not-an-email", "password": PASSWORD}, 422),
    ({"phone": "12", "password": PASSWORD}, 422),
    ({"password": PASSWORD}, 422),
    ({"email": "a" * 300 + "@x.com", "password": PASSWORD}, 422),
])
def test_bad_sign_ups_are_clear_4xx(client, body, status):
    r = client.post("/api/v1/members", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_signing_up_twice_with_one_email_is_a_conflict(client):
    sign_up_and_log_in(client)
    r = client.post("/api/v1/members", json={"email": "LI@example.com", "password": PASSWORD})
    assert r.status_code == 409


def test_member_routes_need_a_member_session_not_a_staff_key(client, net):
    assert client.get("/api/v1/me/profile").status_code == 401
    assert client.get("/api/v1/me/profile", headers=f.auth(net["keys"]["bakery"])).status_code == 401
    assert client.get("/api/v1/me/profile", headers=f.auth("oao_ms_nonsense")).status_code == 401


def test_consents_are_granted_withdrawn_and_kept_in_history(client, net, db, clock):
    member, member_id = sign_up_and_log_in(client)
    r = client.post("/api/v1/me/consents", json={"merchant_id": net["bakery"],
                                                 "data_classes": ["profile.name", "purchase_history"]},
                    headers=member)
    assert r.status_code == 201, r.text
    assert {c["data_class"] for c in client.get("/api/v1/me/consents", headers=member).json()} == {
        "profile.name", "purchase_history"}
    with db.read() as s:
        assert service.has_consent(s, member_id=member_id, merchant_id=net["bakery"], data_class="profile.name",
                                   now=clock.now())
        assert not service.has_consent(s, member_id=member_id, merchant_id=net["cinema"],
                                       data_class="profile.name", now=clock.now())
    clock.advance(minutes=1)
    r = client.post("/api/v1/me/consents/withdraw", json={"merchant_id": net["bakery"],
                                                          "data_classes": ["profile.name"]}, headers=member)
    assert r.json() == {"withdrawn": ["profile.name"]}
    with db.read() as s:
        assert not service.has_consent(s, member_id=member_id, merchant_id=net["bakery"],
                                       data_class="profile.name", now=clock.now())
    history = client.get("/api/v1/me/consents/history", headers=member).json()
    assert [(e["data_class"], e["action"]) for e in history] == [
        ("profile.name", "granted"), ("purchase_history", "granted"), ("profile.name", "withdrawn")]


def test_a_consent_with_an_end_date_lapses(client, net, db, clock):
    member, member_id = sign_up_and_log_in(client)
    client.post("/api/v1/me/consents", json={"merchant_id": net["bakery"], "data_classes": ["profile.name"],
                                             "expires_at": (T0 + timedelta(days=1)).isoformat()}, headers=member)
    clock.advance(days=2)
    with db.read() as s:
        assert not service.has_consent(s, member_id=member_id, merchant_id=net["bakery"],
                                       data_class="profile.name", now=clock.now())


@pytest.mark.parametrize("body", [
    {"merchant_id": "mer_nope", "data_classes": ["profile.name"]},
    {"merchant_id": "x", "data_classes": ["profile.shoe_size"]},
    {"merchant_id": "x", "data_classes": []},
])
def test_bad_consents_are_clear_4xx(client, body):
    member, _ = sign_up_and_log_in(client)
    r = client.post("/api/v1/me/consents", json=body, headers=member)
    assert r.status_code in (404, 422), r.text


def test_a_member_code_is_redeemed_once_with_only_the_consented_profile(client, net, db):
    member, member_id = sign_up_and_log_in(client)
    client.patch("/api/v1/me/profile", json={"birth_year": 1990, "gender": "female"}, headers=member)
    client.post("/api/v1/me/consents", json={"merchant_id": net["bakery"],
                                             "data_classes": ["profile.name", "profile.age_band"]}, headers=member)
    issued = fresh_code(client, member)
    assert len(issued["code"]) == 18 and issued["valid_seconds"] == 60
    r = redeem(client, net["keys"]["bakery"], issued["code"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["profile"] == {"name": "Li Na", "age_band": "35-44"}
    assert member_id not in r.text and out["member_ref"].startswith("mr_")
    with db.read() as s:
        assert service.resolve_member_ref(s, merchant_id=net["bakery"], member_ref=out["member_ref"]) == member_id
        assert service.resolve_member_ref(s, merchant_id=net["cinema"], member_ref=out["member_ref"]) is None
        assert service.member_ref_for(s, merchant_id=net["bakery"], member_id=member_id) == out["member_ref"]

    again = redeem(client, net["keys"]["bakery"], issued["code"])
    assert again.status_code == 410 and again.json()["type"] == "/problems/member-code-used"

    # Another merchant: another ref for the same shopper, and nothing she did not share with it.
    at_cinema = redeem(client, net["keys"]["cinema"], fresh_code(client, member)["code"]).json()
    assert at_cinema["member_ref"] != out["member_ref"] and at_cinema["profile"] == {}


def test_withdrawing_a_consent_stops_the_field_at_the_next_redeem(client, net):
    member, _ = sign_up_and_log_in(client)
    client.post("/api/v1/me/consents", json={"merchant_id": net["bakery"], "data_classes": ["profile.email"]},
                headers=member)
    first = redeem(client, net["keys"]["bakery"], fresh_code(client, member)["code"]).json()
    assert first["profile"]["email"] == "li@example.com"
    client.post("/api/v1/me/consents/withdraw", json={"merchant_id": net["bakery"],
                                                      "data_classes": ["profile.email"]}, headers=member)
    second = redeem(client, net["keys"]["bakery"], fresh_code(client, member)["code"]).json()
    assert second["profile"] == {} and second["member_ref"] == first["member_ref"]


def test_an_expired_member_code_is_refused(client, net, clock):
    member, _ = sign_up_and_log_in(client)
    code = fresh_code(client, member)["code"]
    clock.set(T0 + timedelta(seconds=61))
    r = redeem(client, net["keys"]["bakery"], code)
    assert r.status_code == 410 and r.json()["type"] == "/problems/member-code-expired"


def test_tampered_malformed_and_foreign_member_codes_are_refused_with_their_reason(client, net):
    member, _ = sign_up_and_log_in(client)
    code = fresh_code(client, member)["code"]
    tampered = code[:6] + ("A" if code[6] != "A" else "B") + code[7:]
    r = redeem(client, net["keys"]["bakery"], tampered)
    assert r.status_code == 422 and r.json()["reason"] == "tampered"
    r = redeem(client, net["keys"]["bakery"], "hello")
    assert r.status_code == 422 and r.json()["reason"] == "malformed"
    theirs = codes.new_member_code(network=codes.network_tag("https://other-network.example"), secret="x" * 40)
    r = redeem(client, net["keys"]["bakery"], theirs)
    assert r.status_code == 422 and r.json()["type"] == "/problems/member-code-other-network"
    # The genuine code was not burnt by the failed attempts.
    assert redeem(client, net["keys"]["bakery"], code).status_code == 200


def test_a_network_admin_cannot_redeem_member_codes(client, net):
    member, _ = sign_up_and_log_in(client)
    r = redeem(client, net["keys"]["admin"], fresh_code(client, member)["code"])
    assert r.status_code == 403


@pytest.mark.slow
def test_two_tills_scanning_the_same_code_at_once_get_exactly_one_success(app, client, net, db, settings, clock):
    member, _ = sign_up_and_log_in(client)
    for _ in range(3):
        code = fresh_code(client, member)["code"]
        barrier = threading.Barrier(4)
        results: list[str] = []

        def till(merchant: str, code: str = code, barrier: threading.Barrier = barrier,
                 results: list[str] = results) -> None:
            barrier.wait()
            try:
                with db.unit_of_work() as s:
                    service.redeem_member_code(s, code=code, merchant_id=merchant, now=clock.now(), settings=settings)
                results.append("ok")
            except Problem as exc:
                results.append(exc.slug)

        threads = [threading.Thread(target=till, args=(net["bakery" if i % 2 else "cinema"],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["member-code-used"] * 3 + ["ok"]


def test_the_member_code_images_carry_the_code(client):
    member, _ = sign_up_and_log_in(client)
    issued = fresh_code(client, member)
    for url in (issued["qr_png_url"], issued["barcode_png_url"]):
        r = client.get(url, headers=member)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(r.content)))
        assert [b.text for b in found] == [issued["code"]], url
        assert found[0].format == (zxingcpp.BarcodeFormat.QRCode if "qr" in url else zxingcpp.BarcodeFormat.Code128)
    for url in (issued["qr_svg_url"], issued["barcode_svg_url"]):
        r = client.get(url, headers=member)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    other, _ = sign_up_and_log_in(client, email="someone@example.com")
    assert client.get(issued["qr_png_url"], headers=other).status_code == 404
    assert client.get(issued["qr_png_url"].replace("qr.png", "qr.gif"), headers=member).status_code == 404


def test_consent_history_is_append_only(client, net, db):
    member, member_id = sign_up_and_log_in(client)
    for _ in range(2):
        client.post("/api/v1/me/consents", json={"merchant_id": net["bakery"], "data_classes": ["profile.name"]},
                    headers=member)
        client.post("/api/v1/me/consents/withdraw", json={"merchant_id": net["bakery"],
                                                          "data_classes": ["profile.name"]}, headers=member)
    with db.read() as s:
        events = s.query(MemberConsentEvent).filter_by(member_id=member_id).count()
    assert events == 4
