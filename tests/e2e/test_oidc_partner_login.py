"""A merchant's own system ("partner system") logs shoppers in through OAO as an OpenID
Connect provider, over real HTTP: authorization code + PKCE, ID token checked against
OAO's JWKS, a pairwise subject per merchant, userinfo only with consent."""

from __future__ import annotations

import re
import secrets
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from oao.core.auth import Role
from tests import factories as f
from tests.conftest import T0
from tests.live import serve

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
CALLBACK = "https://partner.example/callback"


@pytest.fixture
def live(app, db):
    """OAO served on a real socket, its issuer set to the address it got."""
    with serve(app) as base:
        app.state.settings = _with_public_url(app.state.settings, base)
        yield base


def _with_public_url(settings, url):
    from dataclasses import replace

    return replace(settings, public_url=url)


def merchant_with_client(base, db, name):
    with db.unit_of_work() as s:
        m = f.merchant(s, name, at=T0)
        key = f.api_key(s, m, at=T0, role=Role.MERCHANT_ADMIN)
    r = httpx.post(f"{base}/api/v1/oidc-clients", json={"name": f"{name} web shop", "redirect_uris": [CALLBACK]},
                   headers=f.auth(key))
    assert r.status_code == 201, r.text
    return m.id, r.json()


def sign_up(base, email="li@example.com"):
    r = httpx.post(f"{base}/api/v1/members", json={"email": email, "password": PASSWORD, "name": "Li Na"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


class Partner:
    """The merchant's system: an independent OIDC client that only knows OAO's discovery URL."""

    def __init__(self, base: str, client: dict) -> None:
        self.meta = httpx.get(f"{base}/.well-known/openid-configuration").json()
        self.client_id, self.secret = client["client_id"], client["client_secret"]

    def oauth(self) -> OAuth2Client:
        return OAuth2Client(self.client_id, self.secret, scope="openid profile email", redirect_uri=CALLBACK,
                            code_challenge_method="S256")

    def start(self) -> tuple[str, str, str, str]:
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, state = self.oauth().create_authorization_url(self.meta["authorization_endpoint"],
                                                           code_verifier=verifier, nonce=nonce)
        return url, state, verifier, nonce

    def finish(self, code: str, verifier: str | None) -> dict:
        extra = {"code_verifier": verifier} if verifier is not None else {}
        return self.oauth().fetch_token(self.meta["token_endpoint"], code=code, **extra)

    def verify(self, id_token: str, nonce: str) -> dict:
        keys = KeySet.import_key_set(httpx.get(self.meta["jwks_uri"]).json())
        token = jwt.decode(id_token, keys, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(now=int(T0.timestamp()), iss={"essential": True, "value": self.meta["issuer"]},
                              aud={"essential": True, "value": self.client_id}).validate(token.claims)
        assert token.claims["nonce"] == nonce
        return token.claims


def browser_logs_in(browser: httpx.Client, url: str, *, share: list[str], login: bool = True) -> str:
    """The shopper's browser: opens the consent page, logs in and agrees; returns the callback URL."""
    page = browser.get(url)
    assert page.status_code == 200, page.text
    query = unescape(re.search(r'name="query" value="([^"]*)"', page.text).group(1))
    csrf = unescape(re.search(r'name="csrf" value="([^"]*)"', page.text).group(1))
    form = {"query": query, "decision": "allow", "data_class": share, "csrf": csrf}
    if login:
        form |= {"login": "li@example.com", "password": PASSWORD}
    answer = browser.post(page.url.copy_with(query=None), data=form)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def callback_code(location: str, state: str) -> str:
    params = parse_qs(urlsplit(location).query)
    assert location.startswith(CALLBACK) and params["state"] == [state]
    return params["code"][0]


def test_a_partner_system_logs_a_member_in_with_pkce_and_gets_a_pairwise_subject(live, db):
    sign_up(live)
    bakery_id, bakery_client = merchant_with_client(live, db, "Bakery")
    _, cinema_client = merchant_with_client(live, db, "Cinema")
    bakery, cinema = Partner(live, bakery_client), Partner(live, cinema_client)
    assert bakery.meta["code_challenge_methods_supported"] == ["S256"]

    with httpx.Client(follow_redirects=False) as browser:
        url, state, verifier, nonce = bakery.start()
        token = bakery.finish(callback_code(browser_logs_in(browser, url, share=["profile.name"]), state), verifier)
        sub = bakery.verify(token["id_token"], nonce)["sub"]

        # Same client again (the browser's OAO session is remembered): the same subject.
        url, state, verifier, nonce = bakery.start()
        again = bakery.finish(callback_code(browser_logs_in(browser, url, share=["profile.name"], login=False),
                                            state), verifier)
        assert bakery.verify(again["id_token"], nonce)["sub"] == sub

        # Another merchant's client: another subject for the same shopper.
        url, state, verifier, nonce = cinema.start()
        other = cinema.finish(callback_code(browser_logs_in(browser, url, share=[], login=False), state), verifier)
        cinema_sub = cinema.verify(other["id_token"], nonce)["sub"]
        assert cinema_sub != sub

    info = httpx.get(bakery.meta["userinfo_endpoint"], headers=f.auth(token["access_token"])).json()
    assert info == {"sub": sub, "name": "Li Na"}  # email was asked for but not shared
    assert httpx.get(cinema.meta["userinfo_endpoint"], headers=f.auth(other["access_token"])).json() == {
        "sub": cinema_sub}

    # Withdrawing the consent stops the claim at once.
    r = httpx.post(f"{live}/api/v1/members/sessions", json={"login": "li@example.com", "password": PASSWORD})
    member = f.auth(r.json()["token"])
    httpx.post(f"{live}/api/v1/me/consents/withdraw", json={"merchant_id": bakery_id,
                                                            "data_classes": ["profile.name"]}, headers=member)
    assert httpx.get(bakery.meta["userinfo_endpoint"], headers=f.auth(token["access_token"])).json() == {"sub": sub}

    # Revoked tokens stop working.
    r = httpx.post(bakery.meta["revocation_endpoint"], data={"token": token["access_token"]},
                   auth=(bakery.client_id, bakery.secret))
    assert r.status_code == 200
    assert httpx.get(bakery.meta["userinfo_endpoint"], headers=f.auth(token["access_token"])).status_code == 401


@pytest.mark.parametrize("verifier", [None, "wrong-" + "x" * 50])
def test_a_missing_or_wrong_code_verifier_is_refused(live, db, verifier):
    sign_up(live)
    _, client = merchant_with_client(live, db, "Bakery")
    partner = Partner(live, client)
    with httpx.Client(follow_redirects=False) as browser:
        url, state, _, _ = partner.start()
        code = callback_code(browser_logs_in(browser, url, share=[]), state)
    with pytest.raises(OAuthError) as refused:
        partner.finish(code, verifier)
    assert refused.value.error in ("invalid_request", "invalid_grant")


def test_an_authorization_request_without_pkce_is_refused(live, db):
    _, client = merchant_with_client(live, db, "Bakery")
    partner = Partner(live, client)
    url = partner.oauth().create_authorization_url(partner.meta["authorization_endpoint"])[0]
    assert "code_challenge" not in url
    r = httpx.get(url, follow_redirects=False)
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["invalid_request"]


def test_a_code_works_once(live, db):
    sign_up(live)
    _, client = merchant_with_client(live, db, "Bakery")
    partner = Partner(live, client)
    with httpx.Client(follow_redirects=False) as browser:
        url, state, verifier, _ = partner.start()
        code = callback_code(browser_logs_in(browser, url, share=[]), state)
    partner.finish(code, verifier)
    with pytest.raises(OAuthError) as refused:
        partner.finish(code, verifier)
    assert refused.value.error == "invalid_grant"


def test_unknown_clients_and_unregistered_redirects_get_an_error_page_not_a_redirect(live, db):
    _, client = merchant_with_client(live, db, "Bakery")
    r = httpx.get(f"{live}/oidc/authorize", params={"client_id": "oc_nope", "response_type": "code",
                                                    "redirect_uri": CALLBACK})
    assert r.status_code == 400 and "location" not in r.headers
    r = httpx.get(f"{live}/oidc/authorize", params={"client_id": client["client_id"], "response_type": "code",
                                                    "redirect_uri": "https://evil.example/cb"})
    assert r.status_code == 400 and "location" not in r.headers


def test_a_wrong_password_on_the_consent_page_gives_no_code(live, db):
    sign_up(live)
    _, client = merchant_with_client(live, db, "Bakery")
    partner = Partner(live, client)
    url, _, _, _ = partner.start()
    with httpx.Client(follow_redirects=False) as browser:
        page = browser.get(url)
        query = unescape(re.search(r'name="query" value="([^"]*)"', page.text).group(1))
        r = browser.post(f"{live}/oidc/authorize", data={"query": query, "decision": "allow",
                                                         "login": "li@example.com", "password": "nope nope"})
    assert r.status_code == 401 and "location" not in r.headers
