"""Shoppers log into OAO through an external OpenID Connect provider (the "log in with
WeChat" role). The provider is a second, independent OAO instance on its own SQLite file,
served on a real socket; the OAO under test is configured with its issuer URL only."""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from oao.app import create_app
from oao.config import Settings
from oao.core.auth import Role
from oao.core.clock import FixedClock
from oao.core.db import Database
from oao.members.models import Member, MemberIdentity
from oao.models import Base
from tests import factories as f
from tests.conftest import T0
from tests.live import serve

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
CALLBACK = "http://testserver/members/login/external/callback"
# Password and secret hashing (argon2) in the provider can take seconds on a loaded 2-core machine:
# httpx's default 5 s timeout made set-up fail there once, with nothing wrong in the code.
SLOW_MACHINE = 30.0


@pytest.fixture
def provider(tmp_path):
    """The external provider: its own OAO network, database and clock; OAO is registered as its client."""
    pdb = Database(f"sqlite:///{tmp_path}/provider.sqlite3")
    Base.metadata.create_all(pdb.engine)
    papp = create_app(Settings(database_url=pdb.url, embedded_worker=False, secret_key="p" * 40), db=pdb,
                      clock=FixedClock(T0), start_worker=False)
    with serve(papp) as base:
        papp.state.settings = replace(papp.state.settings, public_url=base)
        with pdb.unit_of_work() as s:
            wechat = f.merchant(s, "WeChat", at=T0)
            key = f.api_key(s, wechat, at=T0, role=Role.MERCHANT_ADMIN)
        client = httpx.post(f"{base}/api/v1/oidc-clients", json={"name": "OAO network", "redirect_uris": [CALLBACK]},
                            headers=f.auth(key), timeout=SLOW_MACHINE).json()
        yield {"url": base, "db": pdb, "client": client, "merchant_id": wechat.id}
    pdb.dispose()


@pytest.fixture
def oao(provider, db, clock):
    settings = Settings(database_url=db.url, embedded_worker=False, public_url="http://testserver",
                        external_oidc_issuer=provider["url"], external_oidc_client_id=provider["client"]["client_id"],
                        external_oidc_client_secret=provider["client"]["client_secret"])
    app = create_app(settings, db=db, clock=clock, start_worker=False)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def provider_member(provider, email="li@example.com", *, verified: bool):
    r = httpx.post(f"{provider['url']}/api/v1/members", json={"email": email, "password": PASSWORD, "name": "Li Na"},
                   timeout=SLOW_MACHINE)
    assert r.status_code == 201, r.text
    if verified:  # the provider checked the address (its own verification flow is out of scope here)
        with provider["db"].unit_of_work() as s:
            s.execute(update(Member).where(Member.email == email).values(email_verified=True))


def log_in_with_provider(oao: TestClient, provider, *, link: bool = False, email="li@example.com") -> str:
    start = oao.get("/members/login/external" + ("?link=1" if link else ""))
    assert start.status_code == 302, start.text
    assert start.headers["location"].startswith(provider["url"] + "/oidc/authorize?")
    with httpx.Client(follow_redirects=False, timeout=SLOW_MACHINE) as browser:
        page = browser.get(start.headers["location"])
        assert page.status_code == 200, page.text
        query = unescape(re.search(r'name="query" value="([^"]*)"', page.text).group(1))
        answer = browser.post(f"{provider['url']}/oidc/authorize", data={
            "query": query, "decision": "allow", "login": email, "password": PASSWORD,
            "data_class": ["profile.name", "profile.email"]})
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    done = oao.get(f"{back.path}?{back.query}")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/members/me"
    return oao.cookies["oao_member"]


def members(db):
    with db.read() as s:
        return ({m.id: m.email for m in s.scalars(select(Member))},
                [(i.member_id, i.issuer) for i in s.scalars(select(MemberIdentity))])


def test_a_shopper_logs_into_oao_with_the_external_provider(oao, provider, db):
    provider_member(provider, verified=True)
    token = log_in_with_provider(oao, provider)
    me = oao.get("/api/v1/me/profile", headers=f.auth(token)).json()
    assert me["name"] == "Li Na" and me["email"] == "li@example.com" and me["email_verified"] is True
    identities = oao.get("/api/v1/me/identities", headers=f.auth(token)).json()
    assert [i["issuer"] for i in identities] == [provider["url"]]
    assert oao.get("/members/me").status_code == 200  # the browser session works for pages too

    # Logging in again finds the same member by the verified identity (issuer + subject).
    oao.cookies.clear()
    again = log_in_with_provider(oao, provider)
    assert oao.get("/api/v1/me/profile", headers=f.auth(again)).json()["id"] == me["id"]
    assert len(members(db)[0]) == 1


def test_an_unverified_email_never_links_to_an_existing_member(oao, provider, db):
    r = oao.post("/api/v1/members", json={"email": "li@example.com", "password": PASSWORD})
    existing = r.json()["id"]
    with db.unit_of_work() as s:  # even when OAO verified its side
        s.execute(update(Member).where(Member.id == existing).values(email_verified=True))
    provider_member(provider, verified=False)
    token = log_in_with_provider(oao, provider)
    me = oao.get("/api/v1/me/profile", headers=f.auth(token)).json()
    assert me["id"] != existing and me["email"] is None
    all_members, identities = members(db)
    assert len(all_members) == 2 and [i[0] for i in identities] == [me["id"]]


def test_an_email_verified_on_both_sides_links_to_the_existing_member(oao, provider, db):
    existing = oao.post("/api/v1/members", json={"email": "li@example.com", "password": PASSWORD}).json()["id"]
    with db.unit_of_work() as s:
        s.execute(update(Member).where(Member.id == existing).values(email_verified=True))
    provider_member(provider, verified=True)
    token = log_in_with_provider(oao, provider)
    assert oao.get("/api/v1/me/profile", headers=f.auth(token)).json()["id"] == existing


def test_an_unverified_email_on_our_side_does_not_link_either(oao, provider, db):
    existing = oao.post("/api/v1/members", json={"email": "li@example.com", "password": PASSWORD}).json()["id"]
    provider_member(provider, verified=True)
    token = log_in_with_provider(oao, provider)
    assert oao.get("/api/v1/me/profile", headers=f.auth(token)).json()["id"] != existing


def test_a_logged_in_member_links_the_external_account_explicitly(oao, provider, db):
    oao.post("/api/v1/members", json={"email": "wang@example.com", "password": PASSWORD})
    login = oao.post("/members/login", data={"login": "wang@example.com", "password": PASSWORD, "next": "/"})
    assert login.status_code == 303
    mine = oao.get("/api/v1/me/profile", headers=f.auth(oao.cookies["oao_member"])).json()["id"]
    provider_member(provider, verified=False)
    token = log_in_with_provider(oao, provider, link=True)
    assert oao.get("/api/v1/me/profile", headers=f.auth(token)).json()["id"] == mine
    assert [i[0] for i in members(db)[1]] == [mine]


def test_a_forged_or_replayed_callback_is_refused(oao, provider):
    r = oao.get("/members/login/external/callback", params={"state": "made-up", "code": "made-up"})
    assert r.status_code == 422 and "oao_member" not in r.cookies
    r = oao.get("/members/login/external/callback", params={"error": "access_denied"})
    assert r.status_code == 400
