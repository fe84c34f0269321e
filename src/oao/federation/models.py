"""Tables of the federation domain: this instance's key, invitations, links to
other instances, seen nonces, partner pickup locations, parcels handed across
a link and the messages waiting to be sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base


class FederationKey(Base):
    """The instance's Ed25519 key pair; the private half is sealed with a key derived from OAO_SECRET_KEY."""

    __tablename__ = "federation_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the keyid others verify with
    public_key: Mapped[str] = mapped_column(String(64))  # base64url raw 32 bytes
    private_key_sealed: Mapped[str] = mapped_column(String(400))  # Fernet token, never returned by the API
    active: Mapped[bool]
    created_at: Mapped[datetime]


class FederationInvitation(Base):
    __tablename__ = "federation_invitations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)  # one-time: the handshake must present it
    capabilities: Mapped[list[Any]]
    terms: Mapped[dict[str, Any]]  # {"pickup_fee_minor", "currency"}: what we charge the partner
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    link_id: Mapped[str | None] = mapped_column(String(40))


class FederationLink(Base):
    """One local merchant's link with one merchant on another instance."""

    __tablename__ = "federation_links"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # pending | active | failed | suspended
    remote_url: Mapped[str] = mapped_column(String(300))
    remote_key_id: Mapped[str] = mapped_column(String(80), index=True)
    remote_public_key: Mapped[str] = mapped_column(String(64))
    remote_link_id: Mapped[str | None] = mapped_column(String(80))
    remote_merchant: Mapped[dict[str, Any]]  # {"id", "name"} as the partner names itself
    offered: Mapped[list[Any]]  # what we offer on this link
    remote_offered: Mapped[list[Any]]
    capabilities: Mapped[list[Any]]  # negotiated: both offer it
    terms: Mapped[dict[str, Any]]  # what we charge: {"pickup_fee_minor", "currency"}
    remote_terms: Mapped[dict[str, Any]]  # what the partner charges us
    invitation_id: Mapped[str | None] = mapped_column(String(40))  # ours, when the partner accepted it
    handshake_nonce: Mapped[str | None] = mapped_column(String(64))  # theirs, when we accept their invitation
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FederationNonce(Base):
    """Nonces of accepted signed requests: the primary key refuses a replay inside the window."""

    __tablename__ = "federation_nonces"

    key_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class RemotePickupLocation(Base):
    """A partner's pickup location as last fetched through a link (sender side)."""

    __tablename__ = "federation_remote_locations"

    link_id: Mapped[str] = mapped_column(ForeignKey("federation_links.id"), primary_key=True)
    remote_location_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    details: Mapped[dict[str, Any]]
    fetched_at: Mapped[datetime]


class FederatedParcel(Base):
    """A parcel travelling across a link. The seller keeps a `sender` row tied to its order; the
    pickup point keeps a `host` row at its location. Each names the other's id."""

    __tablename__ = "federation_parcels"
    __table_args__ = (UniqueConstraint("link_id", "role", "remote_parcel_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    link_id: Mapped[str] = mapped_column(ForeignKey("federation_links.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # sender | host
    status: Mapped[str] = mapped_column(String(20))  # expected | ready | handed_over | cancelled
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)  # sender: the local order
    fulfillment_id: Mapped[str | None] = mapped_column(String(40))  # sender: the local leg
    order_reference: Mapped[str] = mapped_column(String(80))
    remote_parcel_id: Mapped[str | None] = mapped_column(String(80))
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))  # host: where it waits
    remote_location_id: Mapped[str | None] = mapped_column(String(80))  # sender: the partner's location
    parcel_count: Mapped[int] = mapped_column(Integer)
    pickup_code_hash: Mapped[str] = mapped_column(String(200))
    customer_first_name: Mapped[str] = mapped_column(String(100), default="")
    fee_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    settlement_entry_id: Mapped[str | None] = mapped_column(String(120))
    expected_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    handed_over_at: Mapped[datetime | None]


class FederationOutbound(Base):
    """A message to a partner instance: written in the transaction that caused it, sent after commit,
    retried by the worker until the partner answers 2xx (or 4xx: it will never accept it)."""

    __tablename__ = "federation_outbound"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    link_id: Mapped[str] = mapped_column(ForeignKey("federation_links.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # parcel.expected, parcel.ready, parcel.handed_over, ...
    subject_id: Mapped[str | None] = mapped_column(String(40))  # our parcel the message is about
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(300))  # on the partner, below its base URL
    body: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)  # pending | sent | rejected
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    response: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class FederationStockShare(Base):
    """What stock a merchant shows its partner on one link (stock_visibility): which products, how precisely."""

    __tablename__ = "federation_stock_shares"

    link_id: Mapped[str] = mapped_column(ForeignKey("federation_links.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # gtins: the listed products | all: every product we offer
    gtins: Mapped[list[Any]]  # GTIN-14s, when scope is gtins
    precision: Mapped[str] = mapped_column(String(10))  # bands | exact
    updated_at: Mapped[datetime]


class RemoteStock(Base):
    """A partner's availability of one product at one of its locations, as last fetched (cache)."""

    __tablename__ = "federation_remote_stock"

    link_id: Mapped[str] = mapped_column(ForeignKey("federation_links.id"), primary_key=True)
    gtin14: Mapped[str] = mapped_column(String(14), primary_key=True)
    remote_location_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    location_name: Mapped[str] = mapped_column(String(200), default="")
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    quantity: Mapped[int | None] = mapped_column(Integer)  # exact figure, when the partner shares it
    band: Mapped[str] = mapped_column(String(10))  # none | few | some | many
    as_of: Mapped[datetime | None]  # the partner's time of the figure
    fetched_at: Mapped[datetime] = mapped_column(index=True)


class FederationLogin(Base):
    """Member recognition on a link. On the member's home instance: the OIDC client registered for
    the partner. On the partner: the home instance as its OIDC provider (secret sealed)."""

    __tablename__ = "federation_logins"

    link_id: Mapped[str] = mapped_column(ForeignKey("federation_links.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), primary_key=True)  # provider | client
    oidc_client_id: Mapped[str] = mapped_column(String(80))  # provider: our client row; client: id at the partner
    issuer: Mapped[str | None] = mapped_column(String(300))  # client: the partner's issuer URL
    client_secret_sealed: Mapped[str | None] = mapped_column(String(400))  # client: Fernet token
    created_at: Mapped[datetime]
