"""Logging shoppers in through an external OpenID Connect provider (the "log in with WeChat" role).

Authorization code flow with PKCE (S256), `state` against CSRF and `nonce`
against ID-token replay, as an Authlib client. The ID token is verified
against the provider's JWKS (signature, issuer, audience, expiry, nonce)
before anything about the shopper is believed. This module only talks HTTP;
callers keep it outside database transactions.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc6749.errors import OAuth2Error
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from oao.config import Settings
from oao.core.errors import InvalidInput

TIMEOUT_SECONDS = 10
SCOPE = "openid profile email"
ALGORITHMS = ["RS256", "ES256", "EdDSA", "PS256"]
CALLBACK_PATH = "/members/login/external/callback"


class ExternalLoginFailed(InvalidInput):
    slug, title = "external-login-failed", "External login failed"


@dataclass(frozen=True)
class LoginStart:
    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class ProviderConfig:
    """One external provider as a client knows it. The settings-based provider is one; a federation
    link with member recognition is another (its partner instance is the provider)."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str


def config_of(source: Settings | ProviderConfig) -> ProviderConfig:
    if isinstance(source, ProviderConfig):
        return source
    return ProviderConfig(issuer=source.external_oidc_issuer.rstrip("/"), client_id=source.external_oidc_client_id,
                          client_secret=source.external_oidc_client_secret, redirect_uri=redirect_uri(source))


@dataclass(frozen=True)
class VerifiedIdentity:
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def enabled(settings: Settings) -> bool:
    return bool(settings.external_oidc_issuer and settings.external_oidc_client_id)


def redirect_uri(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def _get_json(http: httpx.Client, url: str) -> dict[str, Any]:
    try:
        response = http.get(url, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ExternalLoginFailed(f"The login provider did not answer properly at {url}: {exc}") from None
    if not isinstance(data, dict):
        raise ExternalLoginFailed(f"The login provider answered {url} with something that is not a JSON object.")
    return data


def provider_metadata(settings: Settings | ProviderConfig, http: httpx.Client | None = None) -> dict[str, Any]:
    """The provider's discovery document; its issuer must be the one configured."""
    issuer = config_of(settings).issuer.rstrip("/")
    with http or httpx.Client() as client:
        meta = _get_json(client, issuer + "/.well-known/openid-configuration")
    if str(meta.get("issuer", "")).rstrip("/") != issuer:
        raise ExternalLoginFailed("The login provider's discovery document names another issuer.")
    return meta


def _client(settings: Settings | ProviderConfig) -> OAuth2Client:
    config = config_of(settings)
    return OAuth2Client(client_id=config.client_id, client_secret=config.client_secret,
                        token_endpoint_auth_method="client_secret_basic", scope=SCOPE,
                        redirect_uri=config.redirect_uri, code_challenge_method="S256", timeout=TIMEOUT_SECONDS)


def start(settings: Settings | ProviderConfig, meta: dict[str, Any]) -> LoginStart:
    """Where to send the shopper, with fresh state, nonce and PKCE verifier (to be stored server-side)."""
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    with _client(settings) as client:
        url, _ = client.create_authorization_url(meta["authorization_endpoint"], state=state,
                                                 code_verifier=verifier, nonce=nonce)
    return LoginStart(url=url, state=state, nonce=nonce, code_verifier=verifier)


def finish(settings: Settings | ProviderConfig, meta: dict[str, Any], *, code: str, code_verifier: str, nonce: str,
           now: datetime) -> VerifiedIdentity:
    """Exchange the code (with the PKCE verifier) and verify the ID token; the identity it proves."""
    with _client(settings) as client:
        try:
            token = client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=code,
                                       code_verifier=code_verifier)
        except (OAuth2Error, httpx.HTTPError, ValueError) as exc:
            raise ExternalLoginFailed(f"The login provider refused the code: {exc}") from None
        id_token = token.get("id_token")
        if not id_token:
            raise ExternalLoginFailed("The login provider sent no ID token.")
        keys = _get_json(client, meta["jwks_uri"])
        config = config_of(settings)
        claims = verify_id_token(id_token, keys, issuer=config.issuer.rstrip("/"), client_id=config.client_id,
                                 nonce=nonce, now=now)
        profile = dict(claims)
        if "email" not in claims and meta.get("userinfo_endpoint"):
            # Providers that keep ID tokens lean (OAO itself does) release profile claims via userinfo.
            info = _get_json(client, meta["userinfo_endpoint"])
            if info.get("sub") == claims["sub"]:  # userinfo about someone else is ignored
                profile.update({k: info[k] for k in ("email", "email_verified", "name") if k in info})
    email = profile.get("email")
    return VerifiedIdentity(issuer=claims["iss"], subject=str(claims["sub"]),
                            email=email if isinstance(email, str) else None,
                            email_verified=profile.get("email_verified") is True,
                            name=_str_or_none(profile.get("name")))


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def verify_id_token(id_token: str, keys: dict[str, Any], *, issuer: str, client_id: str, nonce: str,
                    now: datetime) -> dict[str, Any]:
    """The ID token's claims if its signature, issuer, audience, expiry and nonce all check out."""
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=ALGORITHMS)  # type: ignore[arg-type]
        registry = jwt.JWTClaimsRegistry(now=int(now.timestamp()), leeway=60,
                                         iss={"essential": True, "value": issuer},
                                         aud={"essential": True, "value": client_id},
                                         sub={"essential": True}, exp={"essential": True})
        registry.validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise ExternalLoginFailed(f"The ID token from the login provider is not valid: {exc}") from None
    claims = decoded.claims
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
        raise ExternalLoginFailed("The ID token does not answer this login attempt (nonce mismatch).")
    return claims
