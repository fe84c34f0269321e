"""Member recognition across a link (capability `member_recognition`): a member of
the inviting instance (the *home*) logs in at the accepting instance (the
*partner*) "with <home>", through the home's OpenID Connect provider.

At link time the partner names its callback in the handshake; the home registers
the partner as an OIDC client of its merchant whose pairwise `sub` is scoped to
the link (so the partner cannot correlate the member with what the merchant
knows, nor with other partners) and answers with the client credentials. The
partner keeps them per link (secret sealed) and runs the authorization code
flow with PKCE like for the settings-configured external provider
(members.external_login), then finds or creates its member by (home issuer,
sub). Profile claims are not released to a partner (the member has no consent
for it to give yet): recognition is the pairwise subject.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.config import Settings
from oao.core.errors import InvalidInput, InvalidState, NotFound
from oao.federation import capabilities as caps
from oao.federation.models import FederationLink, FederationLogin
from oao.members import oidc_provider
from oao.members.external_login import ProviderConfig
from oao.members.models import OidcClient

CAPABILITY = "member_recognition"
CALLBACK = "/federation/login/{link_id}/callback"
START = "/federation/login/{link_id}"


def _fernet(secret_key: str) -> Fernet:
    derived = hashlib.sha256(b"oao-federation-login-secret\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def callback_url(public_url: str, link_id: str) -> str:
    return public_url.rstrip("/") + CALLBACK.format(link_id=link_id)


def handshake_part(link: FederationLink, *, public_url: str) -> dict[str, Any] | None:
    """Partner side, in the handshake body: where the home should send our shoppers back."""
    if CAPABILITY not in link.offered or CAPABILITY not in link.remote_offered:
        return None
    return {"redirect_uri": callback_url(public_url, link.id)}


def register_partner(session: Session, *, link: FederationLink, login: Any, settings: Settings,
                     now: datetime) -> dict[str, Any] | None:
    """Home side, accepting the handshake: the partner becomes an OIDC client of our merchant, with a
    `sub` scoped to this link. Returns the credentials for the handshake answer (TLS protects them)."""
    if not caps.allows(link.capabilities, CAPABILITY):
        return None
    redirect_uri = str(login.get("redirect_uri") or "") if isinstance(login, Mapping) else ""
    if not redirect_uri.startswith(link.remote_url.rstrip("/") + "/"):
        raise InvalidInput("member_recognition needs login.redirect_uri on the partner's own instance URL.")
    partner = str(link.remote_merchant.get("name") or link.remote_url)[:120]
    client, secret = oidc_provider.register_partner_client(
        session, merchant_id=link.merchant_id, name=f"{partner} (linked instance {link.remote_url})",
        redirect_uri=redirect_uri, pairwise_scope=link.id, now=now, settings=settings)
    session.add(FederationLogin(link_id=link.id, role="provider", oidc_client_id=client.id, issuer=None,
                                client_secret_sealed=None, created_at=now))
    session.flush()
    return {"issuer": settings.public_url.rstrip("/"), "client_id": client.id, "client_secret": secret}


def store_partner_login(session: Session, *, link: FederationLink, login: Any, secret_key: str,
                        now: datetime) -> FederationLogin | None:
    """Partner side, after the handshake: keep the home's provider and our client credentials."""
    if not caps.allows(link.capabilities, CAPABILITY) or not isinstance(login, Mapping):
        return None
    issuer, client_id, secret = (str(login.get(k) or "") for k in ("issuer", "client_id", "client_secret"))
    if issuer.rstrip("/") != link.remote_url.rstrip("/") or not client_id or not secret or len(client_id) > 80:
        return None  # the link stands; member recognition stays unusable (login answers 409)
    row = FederationLogin(link_id=link.id, role="client", oidc_client_id=client_id, issuer=issuer.rstrip("/"),
                          client_secret_sealed=_fernet(secret_key).encrypt(secret.encode()).decode(),
                          created_at=now)
    session.merge(row)
    session.flush()
    return row


def provider_config(session: Session, *, link_id: str, settings: Settings) -> ProviderConfig:
    """Partner side: the home instance as the OIDC provider of this link (404/409 when unusable)."""
    link = session.get(FederationLink, link_id)
    if link is None:
        raise NotFound(f"No federation link {link_id!r}.")
    if link.status != "active" or not caps.allows(link.capabilities, CAPABILITY):
        raise InvalidState(f"Link {link_id} is {link.status} and does not offer member recognition.")
    row = session.get(FederationLogin, (link_id, "client"))
    if row is None or not row.issuer or not row.client_secret_sealed:
        raise InvalidState(f"The partner of link {link_id} did not give us login credentials; re-link.")
    try:
        secret = _fernet(settings.secret_key).decrypt(row.client_secret_sealed.encode()).decode()
    except InvalidToken:
        raise InvalidState("The login secret cannot be unsealed: OAO_SECRET_KEY changed; re-link.") from None
    return ProviderConfig(issuer=row.issuer, client_id=row.oidc_client_id, client_secret=secret,
                          redirect_uri=callback_url(settings.public_url, link_id))


def partner_name(session: Session, *, link_id: str) -> str:
    link = session.get(FederationLink, link_id)
    return str((link.remote_merchant if link else {}).get("name") or "partner")


def set_clients_revoked(session: Session, *, link_id: str, revoked: bool, now: datetime) -> None:
    """Home side: a suspended link's partner client logs nobody in; reactivating restores it."""
    for row in session.scalars(select(FederationLogin).where(FederationLogin.link_id == link_id,
                                                             FederationLogin.role == "provider")):
        client = session.get(OidcClient, row.oidc_client_id)
        if client is not None:
            client.revoked_at = now if revoked else None
    session.flush()
