"""Tables of this domain: members, their logins and sessions, consents, member codes,
and OAO's own OpenID Connect provider (clients, codes, tokens, signing keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base


class Member(Base):
    """A shopper of the network. Merchants never see this id, only pairwise member refs."""

    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None: external login only
    name: Mapped[str] = mapped_column(String(200), default="")
    birth_year: Mapped[int | None] = mapped_column(Integer)
    gender: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MemberIdentity(Base):
    """A verified identity at an external OpenID Connect provider (issuer + subject)."""

    __tablename__ = "member_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_member_identity_issuer_subject"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime]


class MemberSession(Base):
    __tablename__ = "member_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ExternalLoginState(Base):
    """One login round trip to the external provider: state, nonce and PKCE verifier stay server-side."""

    __tablename__ = "member_external_login_states"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(128))
    link_member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id"))  # explicit linking
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class MemberConsent(Base):
    """Current consent of a member towards one merchant for one data class."""

    __tablename__ = "member_consents"
    __table_args__ = (UniqueConstraint("member_id", "merchant_id", "data_class", name="uq_member_consent"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    data_class: Mapped[str] = mapped_column(String(40))
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


class MemberConsentEvent(Base):
    """Append-only history of every grant and withdrawal."""

    __tablename__ = "member_consent_events"
    __table_args__ = (Index("ix_member_consent_events_member_at", "member_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    data_class: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(20))  # granted | withdrawn
    source: Mapped[str] = mapped_column(String(20))  # api | web | oidc
    expires_at: Mapped[datetime | None]
    at: Mapped[datetime]


class MemberCode(Base):
    """A rotating one-time member code; only its hash is kept."""

    __tablename__ = "member_codes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    used_by_merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))


class OidcClient(Base):
    """A merchant's system that offers "log in with <network>"."""

    __tablename__ = "oidc_clients"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the client_id
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    redirect_uris: Mapped[list[Any]]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # Whom the pairwise `sub` is scoped to; None: the merchant. A partner on another instance
    # (federation member recognition) gets its own scope, so it cannot correlate with the merchant.
    pairwise_scope: Mapped[str | None] = mapped_column(String(80), default=None)


class OidcAuthorizationCode(Base):
    __tablename__ = "oidc_authorization_codes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(300))
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    auth_time: Mapped[datetime]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OidcToken(Base):
    __tablename__ = "oidc_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    scope: Mapped[str] = mapped_column(String(300))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class OidcSigningKey(Base):
    """The provider's ID-token signing key: generated once, its public half published in JWKS."""

    __tablename__ = "oidc_signing_keys"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # the JWK thumbprint, used as kid
    alg: Mapped[str] = mapped_column(String(10))
    private_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class MemberSecret(Base):
    """Network-wide secrets of this domain, generated once (e.g. the key pairwise member refs derive from)."""

    __tablename__ = "member_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
