"""OAO as an OpenID Connect provider, built on Authlib's generic server classes.

Authlib has no Starlette integration, so requests arrive here as a plain
`HttpIn` (the web layer reads the body) and responses leave as (status, body,
headers) tuples. One `Provider` serves one request inside one unit of work.
Authorization code flow only, PKCE with S256 required for every client; the
`sub` a client receives is the member's pairwise ref for the client's merchant;
userinfo releases only the claims the member currently consents to.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import grants as oauth2_grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from joserfc.jwk import RSAKey
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.config import Settings
from oao.core.auth import Principal, token_hash
from oao.core.errors import InvalidInput, NotFound, Unauthorized
from oao.core.ids import new_id
from oao.members import service
from oao.members.consents import SCOPES_SUPPORTED, oidc_claims
from oao.members.models import Member, OidcAuthorizationCode, OidcClient, OidcSigningKey, OidcToken

CODE_MINUTES = 5
TOKEN_SECONDS = 3600
ID_TOKEN_SECONDS = 3600
ALG = "RS256"


@dataclass
class HttpIn:
    """What the provider needs of an HTTP request, independent of the web framework."""

    method: str
    url: str
    headers: dict[str, str]
    query: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)


class _Payload:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.datalist: dict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self.datalist[key].append(value)
        self.data = {key: values[0] for key, values in self.datalist.items()}

    client_id = property(lambda self: self.data.get("client_id"))
    grant_type = property(lambda self: self.data.get("grant_type"))
    redirect_uri = property(lambda self: self.data.get("redirect_uri"))
    scope = property(lambda self: self.data.get("scope"))
    state = property(lambda self: self.data.get("state"))

    @property
    def response_type(self) -> str | None:
        rt = self.data.get("response_type")
        return " ".join(sorted(rt.split())) if rt and " " in rt else rt


class _Request(OAuth2Request):
    def __init__(self, http: HttpIn) -> None:  # noqa: D107 - transport security is the proxy's job
        self.method, self.uri = http.method, http.url
        # Title-Case keys: Authlib looks up "Authorization" exactly.
        self.headers = {k.title(): v for k, v in http.headers.items()}
        self._body = None
        self.payload = _Payload([*http.query, *http.form])
        self._args = {k: v for k, v in http.query}
        self._form = {k: v for k, v in http.form}
        self.client = self.auth_method = self.user = None
        self.authorization_code = self.refresh_token = self.credential = None
        self._scope = None

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


# --- Authlib model adapters ----------------------------------------------------------------

class ClientModel:
    def __init__(self, row: OidcClient) -> None:
        self.row = row
        self.client_id = row.id

    def get_client_id(self) -> str:
        return self.row.id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.row.redirect_uris
        return uris[0] if len(uris) == 1 else None  # several: the client must say which

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return "openid"
        return " ".join(s for s in scope.split() if s in SCOPES_SUPPORTED)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(token_hash(client_secret), self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class CodeModel:
    def __init__(self, row: OidcAuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class TokenModel:
    def __init__(self, row: OidcToken) -> None:
        self.row = row

    def check_client(self, client: ClientModel) -> bool:
        return self.row.client_id == client.get_client_id()


# --- grants --------------------------------------------------------------------------------

class RequiredS256(CodeChallenge):
    """PKCE on every authorization request, S256 only (plain would defeat the point)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.",
                                      redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


def _grant_classes(provider: Provider) -> tuple[type, Any]:
    session, now = provider.session, provider.now

    class CodeGrant(oauth2_grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code: str, request: Any) -> None:
            data = request.payload.data
            session.add(OidcAuthorizationCode(
                id=new_id("oac"), code_hash=token_hash(code), client_id=request.client.get_client_id(),
                member_id=request.user.id, redirect_uri=data.get("redirect_uri") or "",
                scope=request.scope or "openid", nonce=data.get("nonce"), code_challenge=data["code_challenge"],
                code_challenge_method=data.get("code_challenge_method") or "S256", auth_time=now, created_at=now,
                expires_at=now + timedelta(minutes=CODE_MINUTES), used_at=None))
            session.flush()

        def query_authorization_code(self, code: str, client: ClientModel) -> CodeModel | None:
            # Claimed here with a conditional UPDATE, so a code works once even when two token
            # requests race, and a failed PKCE check still burns it.
            digest = token_hash(code)
            claimed = session.execute(update(OidcAuthorizationCode).where(
                OidcAuthorizationCode.code_hash == digest, OidcAuthorizationCode.client_id == client.get_client_id(),
                OidcAuthorizationCode.used_at.is_(None), OidcAuthorizationCode.expires_at > now).values(used_at=now))
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.scalars(select(OidcAuthorizationCode).where(OidcAuthorizationCode.code_hash == digest)).one()
            return CodeModel(row)

        def delete_authorization_code(self, authorization_code: CodeModel) -> None:
            pass  # already marked used when it was claimed

        def authenticate_user(self, authorization_code: CodeModel) -> Member | None:
            return session.get(Member, authorization_code.row.member_id)

    class OpenIdCode(OpenIDCode):
        def exists_nonce(self, nonce: str, request: Any) -> bool:
            return session.scalar(select(OidcAuthorizationCode.id).where(
                OidcAuthorizationCode.client_id == request.payload.client_id,
                OidcAuthorizationCode.nonce == nonce)) is not None

        def resolve_client_private_key(self, client: ClientModel) -> RSAKey:
            return provider.signing_key()

        def get_client_algorithm(self, client: ClientModel) -> str:
            return ALG

        def get_encode_header(self, client: ClientModel) -> dict[str, str]:
            return {"alg": ALG, "kid": provider.signing_key().kid or "", "typ": "JWT"}

        def get_client_claims(self, client: ClientModel) -> dict[str, Any]:
            issued = int(now.timestamp())
            return {"iss": provider.issuer, "aud": [client.get_client_id()], "iat": issued,
                    "exp": issued + ID_TOKEN_SECONDS, "auth_time": issued}

        def generate_user_info(self, user: Member, scope: str) -> dict[str, Any]:
            # The ID token carries the pairwise subject only; consented claims come from userinfo,
            # which checks consent on every call (a withdrawal takes effect at once).
            return {"sub": provider.subject_for(provider.current_client, user.id)}

    return CodeGrant, OpenIdCode


class Provider(AuthorizationServer):
    """The authorization server for one request, bound to its database session and clock."""

    def __init__(self, session: Session, *, now: datetime, settings: Settings) -> None:
        super().__init__(scopes_supported=list(SCOPES_SUPPORTED))
        self.session, self.now, self.settings = session, now, settings
        self.issuer = settings.public_url.rstrip("/")
        self.current_client: ClientModel | None = None
        self._key: RSAKey | None = None
        self.register_token_generator("default", BearerTokenGenerator(
            lambda **_: "oao_at_" + secrets.token_urlsafe(32), expires_generator=lambda *_: TOKEN_SECONDS))
        code_grant, openid_code = _grant_classes(self)
        self.register_grant(code_grant, [RequiredS256(required=True), openid_code(require_nonce=False)])
        self.register_endpoint(_revocation_endpoint(self))

    # Authlib hooks
    def query_client(self, client_id: str) -> ClientModel | None:
        if not client_id or len(client_id) > 40:
            return None
        row = self.session.get(OidcClient, client_id)
        if row is None or row.revoked_at is not None:
            return None
        self.current_client = ClientModel(row)
        return self.current_client

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self.session.add(OidcToken(id=new_id("otk"), access_token_hash=token_hash(token["access_token"]),
                                   client_id=request.client.get_client_id(), member_id=request.user.id,
                                   scope=token.get("scope") or "openid", issued_at=self.now,
                                   expires_at=self.now + timedelta(seconds=TOKEN_SECONDS), revoked_at=None))
        self.session.flush()

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request if isinstance(request, OAuth2Request) else _Request(request)

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple[int, Any, dict]:
        return status, body, dict(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    # OAO specifics
    def subject_for(self, client: ClientModel | None, member_id: str) -> str:
        assert client is not None
        return service.member_ref_for(self.session, merchant_id=subject_scope(client.row), member_id=member_id)

    def signing_key(self) -> RSAKey:
        if self._key is None:
            row = self.session.scalars(select(OidcSigningKey).order_by(OidcSigningKey.created_at,
                                                                       OidcSigningKey.id).limit(1)).first()
            if row is None:
                row = create_signing_key(self.session, now=self.now)
            self._key = RSAKey.import_key(json.loads(row.private_jwk))
        return self._key


def _revocation_endpoint(provider: Provider) -> RevocationEndpoint:
    class Revocation(RevocationEndpoint):
        CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def query_token(self, token_string: str, token_type_hint: str | None) -> TokenModel | None:
            row = provider.session.scalar(select(OidcToken).where(
                OidcToken.access_token_hash == token_hash(token_string)))
            return TokenModel(row) if row is not None else None

        def revoke_token(self, token: TokenModel, request: Any) -> None:
            if token.row.revoked_at is None:
                token.row.revoked_at = provider.now
            provider.session.flush()

    return Revocation(provider)


# --- keys, discovery -----------------------------------------------------------------------

def create_signing_key(session: Session, *, now: datetime) -> OidcSigningKey:
    """Generate the RSA signing key once; a racing second creator keeps the first one's."""
    key = RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()
    jwk = key.as_dict(private=True)
    jwk["kid"] = kid
    try:
        with session.begin_nested():
            session.add(OidcSigningKey(id=kid, alg=ALG, private_jwk=json.dumps(jwk), created_at=now))
    except IntegrityError:
        pass
    row = session.scalars(select(OidcSigningKey).order_by(OidcSigningKey.created_at, OidcSigningKey.id)).first()
    assert row is not None
    return row


def jwks(session: Session) -> dict[str, Any] | None:
    """Public keys for verifying ID tokens, or None before the first key exists."""
    rows = list(session.scalars(select(OidcSigningKey).order_by(OidcSigningKey.created_at)))
    if not rows:
        return None
    keys = []
    for row in rows:
        public = RSAKey.import_key(json.loads(row.private_jwk)).as_dict(private=False)
        keys.append({**public, "kid": row.id, "use": "sig", "alg": row.alg})
    return {"keys": keys}


def discovery(settings: Settings) -> dict[str, Any]:
    base = settings.public_url.rstrip("/")
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oidc/authorize",
        "token_endpoint": f"{base}/oidc/token",
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "revocation_endpoint": f"{base}/oidc/revoke",
        "jwks_uri": f"{base}/oidc/jwks",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [ALG],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "name", "email", "email_verified", "phone_number", "phone_number_verified",
                             "gender", "age_band"],
    }


# --- userinfo ------------------------------------------------------------------------------

def subject_scope(client: OidcClient) -> str:
    """What the client's pairwise `sub` (and consents) are keyed by: its merchant, or its own scope."""
    return client.pairwise_scope or client.merchant_id


def userinfo(session: Session, *, access_token: str, now: datetime) -> dict[str, Any]:
    """Claims for a bearer access token: the pairwise sub plus only what the member consents to share."""
    row = session.scalar(select(OidcToken).where(OidcToken.access_token_hash == token_hash(access_token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("The access token is unknown, revoked or expired.")
    client = session.get(OidcClient, row.client_id)
    if client is None or client.revoked_at is not None:
        raise Unauthorized("The client of this access token was revoked.")
    # A partner-scoped client gets the consents given to that scope (none can be given yet): only `sub`.
    scope = subject_scope(client)
    profile = service.consented_profile(session, member_id=row.member_id, merchant_id=scope, now=now)
    sub = service.member_ref_for(session, merchant_id=scope, member_id=row.member_id)
    return {"sub": sub, **oidc_claims(profile, row.scope)}


# --- client registration -------------------------------------------------------------------

def _check_redirect_uri(uri: str, settings: Settings) -> str:
    parts = urlsplit(uri)
    if len(uri) > 500 or parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise InvalidInput(f"Redirect URI {uri[:80]!r} must be an absolute http(s) URL without a fragment.",
                           errors=[{"field": "redirect_uris", "message": "absolute http(s) URL, no fragment"}])
    if settings.env == "production" and parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost"):
        raise InvalidInput(f"Redirect URI {uri[:80]!r} must use https.")
    return uri


def register_client(session: Session, *, principal: Principal, merchant_id: str | None, name: str,
                    redirect_uris: list[str], now: datetime, settings: Settings) -> tuple[OidcClient, str]:
    """Register a merchant's system as an OIDC client; the secret is returned once and stored hashed."""
    merchant_id = merchant_id or principal.merchant_id
    if merchant_id is None:
        raise InvalidInput("Say which merchant the client belongs to (merchant_id).")
    principal.ensure_merchant(merchant_id, "merchant", merchant_id)
    principal.ensure_admin_of(merchant_id)
    from oao.network import service as network_service

    network_service.get_merchant(session, merchant_id=merchant_id)
    uris = list(dict.fromkeys(_check_redirect_uri(u, settings) for u in redirect_uris))
    secret = "oao_cs_" + secrets.token_urlsafe(32)
    client = OidcClient(id=new_id("oc"), merchant_id=merchant_id, name=name.strip(), secret_hash=token_hash(secret),
                        redirect_uris=uris, created_at=now, revoked_at=None)
    session.add(client)
    session.flush()
    return client, secret


def register_partner_client(session: Session, *, merchant_id: str, name: str, redirect_uri: str,
                            pairwise_scope: str, now: datetime, settings: Settings) -> tuple[OidcClient, str]:
    """A client for a partner system the merchant linked with (federation), whose `sub` is scoped to
    `pairwise_scope` rather than the merchant. The caller vouches for the link; the secret is returned once."""
    secret = "oao_cs_" + secrets.token_urlsafe(32)
    client = OidcClient(id=new_id("oc"), merchant_id=merchant_id, name=name.strip()[:200],
                        secret_hash=token_hash(secret), redirect_uris=[_check_redirect_uri(redirect_uri, settings)],
                        created_at=now, revoked_at=None, pairwise_scope=pairwise_scope)
    session.add(client)
    session.flush()
    return client, secret


def list_clients(session: Session, *, principal: Principal) -> list[OidcClient]:
    """The OIDC clients of the caller's merchant (all of them for network admins)."""
    query = select(OidcClient).order_by(OidcClient.id)
    if not principal.is_network_admin:
        query = query.where(OidcClient.merchant_id == principal.merchant_id)
    return list(session.scalars(query))


def revoke_client(session: Session, *, principal: Principal, client_id: str, now: datetime) -> OidcClient:
    """Stop a client: no new logins, its tokens stop working."""
    client = session.get(OidcClient, client_id)
    if client is None:
        raise NotFound(f"No OIDC client {client_id!r}.")
    principal.ensure_merchant(client.merchant_id, "OIDC client", client_id)
    principal.ensure_admin_of(client.merchant_id)
    if client.revoked_at is None:
        client.revoked_at = now
    session.flush()
    return client


def client_for_page(session: Session, *, client_id: str) -> tuple[OidcClient, str] | None:
    """The client and its merchant's name, for the consent page."""
    client = session.get(OidcClient, client_id) if client_id and len(client_id) <= 40 else None
    if client is None or client.revoked_at is not None:
        return None
    from oao.network import service as network_service

    return client, network_service.get_merchant(session, merchant_id=client.merchant_id).name


__all__ = ["HttpIn", "InvalidGrantError", "Provider", "discovery", "jwks", "register_client", "userinfo"]
