"""Use cases of the federation domain: this instance's identity, link invitations
and the handshake, verification of signed requests (with replay protection),
and partner pickup locations. Parcels across a link live in parcels.py; the
HTTP calls to partners in client.py (never inside a transaction).

Linking, in short (docs/federation.md has the wire format):
1. A's admin creates an invitation: a token signed by A's key carrying A's URL,
   key, offered capabilities, terms and a one-time nonce.
2. B's admin posts the token to B; B checks it, stores a pending link and calls
   A's handshake endpoint, signed with B's key, presenting the nonce.
3. A checks the signature against the key in the handshake, spends the nonce,
   stores its link (capabilities = what both offer) and answers with its link id;
   B activates its link. From then on every request names the receiver's link
   id in its path and is signed by the sender's instance key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.config import Settings
from oao.core.auth import Principal
from oao.core.errors import Forbidden, InvalidInput, InvalidState, NotFound, Problem, Unauthorized
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.federation import capabilities as caps
from oao.federation import login, protocol
from oao.federation.models import (
    FederationInvitation,
    FederationKey,
    FederationLink,
    FederationNonce,
    FederationOutbound,
    RemotePickupLocation,
)
from oao.federation.signatures import MAX_SKEW_SECONDS, SignatureError, Verified, new_private_key, public_key_of
from oao.federation.signatures import verify_request as verify_signature
from oao.network import service as network
from oao.sharing import service as sharing

INVITATION_TTL_MINUTES = 24 * 60  # candidate setting OAO_FEDERATION_INVITATION_MINUTES
MAX_INVITATION_MINUTES = 30 * 24 * 60
RECIPIENT_KIND = "federated_instance"


class PartnerUnavailable(Problem):
    status, slug, title = 502, "partner-unavailable", "The partner instance did not answer as expected"


# --- identity ---------------------------------------------------------------------------------

def _fernet(secret_key: str) -> Fernet:
    """The private key is sealed with a key derived from OAO_SECRET_KEY: a database dump alone cannot sign."""
    derived = hashlib.sha256(b"oao-federation-private-key\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def instance_key(session: Session, *, secret_key: str, now: datetime) -> FederationKey:
    """The active key pair, generated on first use (the oldest active one wins a race)."""
    key = session.scalar(select(FederationKey).where(FederationKey.active.is_(True))
                         .order_by(FederationKey.created_at, FederationKey.id).limit(1))
    if key is not None:
        return key
    raw = new_private_key()
    key = FederationKey(id=new_id("fky"), public_key=public_key_of(raw),
                        private_key_sealed=_fernet(secret_key).encrypt(raw).decode(), active=True, created_at=now)
    session.add(key)
    session.flush()
    return key


def has_instance_key(session: Session) -> bool:
    return session.scalar(select(FederationKey.id).where(FederationKey.active.is_(True)).limit(1)) is not None


def private_key(key: FederationKey, *, secret_key: str) -> bytes:
    try:
        return _fernet(secret_key).decrypt(key.private_key_sealed.encode())
    except InvalidToken:
        raise InvalidState("The federation key cannot be unsealed: OAO_SECRET_KEY changed since it was "
                           "created. Restore the secret key, or rotate the key and re-link partners.") from None


def identity(session: Session, *, public_url: str, secret_key: str, now: datetime) -> dict[str, Any]:
    """What this instance publishes: its URL, key and the capabilities it can serve."""
    key = instance_key(session, secret_key=secret_key, now=now)
    base = public_url.rstrip("/")
    return {"protocol": "oao-federation", "version": protocol.PROTOCOL_VERSION, "instance_url": base,
            "key_id": key.id, "public_key": key.public_key, "alg": "ed25519",
            "capabilities": list(caps.SUPPORTED),
            "signature": {"standard": "RFC 9421", "label": "oao", "covered": ["@method", "@target-uri",
                                                                             "content-digest"],
                          "parameters": ["created", "keyid", "nonce", "alg"], "max_skew_seconds": MAX_SKEW_SECONDS},
            "endpoints": {"handshake": f"{base}{protocol.API_PREFIX}/handshake",
                          "links": f"{base}{protocol.API_PREFIX}/links/{{link_id}}"}}


# --- invitations and the handshake --------------------------------------------------------------

def _offer(capabilities: Iterable[str] | None) -> list[str]:
    try:
        offer = caps.normalise(caps.DEFAULT_OFFER if capabilities is None else capabilities)
    except caps.CapabilityError as exc:
        raise InvalidInput(str(exc), errors=[{"loc": ["capabilities"], "msg": str(exc)}]) from None
    if caps.BASE not in offer:
        raise InvalidInput(f"Every link offers {caps.BASE}; the richer levels build on it.")
    return offer


def _terms(session: Session, merchant_id: str, pickup_fee_minor: int, currency: str | None) -> dict[str, Any]:
    if pickup_fee_minor < 0:
        raise InvalidInput("pickup_fee_minor cannot be negative.")
    merchant = network.get_merchant(session, merchant_id=merchant_id)
    return {"pickup_fee_minor": pickup_fee_minor, "currency": currency or merchant.currency}


def create_invitation(session: Session, *, principal: Principal, merchant_id: str,
                      capabilities: Iterable[str] | None, pickup_fee_minor: int, currency: str | None,
                      ttl_minutes: int, public_url: str, secret_key: str, now: datetime
                      ) -> tuple[FederationInvitation, str]:
    """A one-time invitation token for a partner instance to link with this merchant."""
    principal.ensure_admin_of(merchant_id)
    if not 1 <= ttl_minutes <= MAX_INVITATION_MINUTES:
        raise InvalidInput(f"An invitation lives 1 to {MAX_INVITATION_MINUTES} minutes.")
    merchant = network.get_merchant(session, merchant_id=merchant_id)
    key = instance_key(session, secret_key=secret_key, now=now)
    invitation = FederationInvitation(
        id=new_id("fin"), merchant_id=merchant_id, nonce=protocol.new_nonce(), capabilities=_offer(capabilities),
        terms=_terms(session, merchant_id, pickup_fee_minor, currency), created_by=principal.id, created_at=now,
        expires_at=now + timedelta(minutes=ttl_minutes), used_at=None, link_id=None)
    session.add(invitation)
    session.flush()
    token = protocol.encode_invitation(protocol.Invitation(
        instance_url=public_url.rstrip("/"), key_id=key.id, public_key=key.public_key,
        capabilities=invitation.capabilities, nonce=invitation.nonce,
        expires_at=int(invitation.expires_at.timestamp()), merchant={"id": merchant.id, "name": merchant.name},
        terms=invitation.terms), private_key=private_key(key, secret_key=secret_key))
    record_event(session, type="federation.invitation_created", subject_id=invitation.id, merchant_id=merchant_id,
                 payload={"invitation_id": invitation.id, "capabilities": invitation.capabilities,
                          "expires_at": invitation.expires_at.isoformat()}, at=now)
    return invitation, token


def begin_link(session: Session, *, principal: Principal, merchant_id: str, token: str,
               capabilities: Iterable[str] | None, pickup_fee_minor: int, currency: str | None,
               public_url: str, now: datetime) -> FederationLink:
    """Accepting a partner's invitation, step 1: a pending link (the handshake call follows, outside)."""
    principal.ensure_admin_of(merchant_id)
    try:
        invitation = protocol.decode_invitation(token, now=int(now.timestamp()))
    except protocol.ProtocolError as exc:
        raise InvalidInput(f"Invitation refused: {exc}", errors=[{"loc": ["token"], "msg": str(exc)}]) from None
    if invitation.instance_url == public_url.rstrip("/"):
        raise InvalidInput("This invitation comes from this very instance; link merchants of one instance "
                           "with a partner agreement instead.")
    offer = _offer(capabilities)
    link = FederationLink(
        id=new_id("fln"), merchant_id=merchant_id, status="pending", remote_url=invitation.instance_url,
        remote_key_id=invitation.key_id, remote_public_key=invitation.public_key, remote_link_id=None,
        remote_merchant=invitation.merchant, offered=offer, remote_offered=invitation.capabilities,
        capabilities=caps.negotiate(offer, invitation.capabilities),
        terms=_terms(session, merchant_id, pickup_fee_minor, currency), remote_terms=invitation.terms,
        invitation_id=None, handshake_nonce=invitation.nonce, last_error=None, created_at=now, updated_at=now)
    session.add(link)
    session.flush()
    return link


def handshake_body(session: Session, *, link: FederationLink, public_url: str, secret_key: str,
                   now: datetime) -> dict[str, Any]:
    """What we tell the inviting instance about ourselves (protocol data only: no shopper data)."""
    key = instance_key(session, secret_key=secret_key, now=now)
    merchant = network.get_merchant(session, merchant_id=link.merchant_id)
    body = {"v": protocol.PROTOCOL_VERSION, "nonce": link.handshake_nonce, "instance_url": public_url.rstrip("/"),
            "key_id": key.id, "public_key": key.public_key, "link_id": link.id, "capabilities": link.offered,
            "merchant": {"id": merchant.id, "name": merchant.name}, "terms": link.terms}
    recognition = login.handshake_part(link, public_url=public_url)
    if recognition is not None:
        body["login"] = recognition
    return body


def accept_handshake(session: Session, *, body: Mapping[str, Any], key_id: str, now: datetime,
                     settings: Settings | None = None) -> dict[str, Any]:
    """The invitee presented our nonce, signed with the key it sends: store the link, answer with ours."""
    nonce = str(body.get("nonce") or "")
    invitation = session.scalar(select(FederationInvitation).where(FederationInvitation.nonce == nonce)
                                .with_for_update())
    if invitation is None or invitation.used_at is not None or invitation.expires_at < now:
        raise Unauthorized("The invitation nonce is unknown, used or expired.")
    if key_id != body.get("key_id"):
        raise Unauthorized("The handshake must be signed with the key it presents.")
    remote_url = str(body.get("instance_url") or "").rstrip("/")
    if not remote_url.startswith(("http://", "https://")):
        raise InvalidInput("instance_url must be an http(s) URL.")
    capabilities, their_link = body.get("capabilities"), body.get("link_id")
    if not isinstance(capabilities, list) or not isinstance(their_link, str) or not 1 <= len(their_link) <= 80:
        raise InvalidInput("capabilities must be a list and link_id a string of 1 to 80 characters.")
    offered = [str(c) for c in capabilities]
    link = FederationLink(
        id=new_id("fln"), merchant_id=invitation.merchant_id, status="active", remote_url=remote_url,
        remote_key_id=key_id, remote_public_key=str(body.get("public_key")), remote_link_id=their_link,
        remote_merchant=as_object(body.get("merchant")), offered=invitation.capabilities, remote_offered=offered,
        capabilities=caps.negotiate(invitation.capabilities, offered), terms=invitation.terms,
        remote_terms=as_object(body.get("terms")), invitation_id=invitation.id, handshake_nonce=None,
        last_error=None, created_at=now, updated_at=now)
    session.add(link)
    invitation.used_at, invitation.link_id = now, link.id
    session.flush()
    link_event(session, link, "federation.link_created", now)
    answer = {"v": protocol.PROTOCOL_VERSION, "link_id": link.id, "capabilities": link.capabilities,
              "merchant": {"id": link.merchant_id,
                           "name": network.get_merchant(session, merchant_id=link.merchant_id).name}}
    if settings is not None:  # member recognition: the partner becomes a client of our OIDC provider
        credentials = login.register_partner(session, link=link, login=body.get("login"), settings=settings, now=now)
        if credentials is not None:
            answer["login"] = credentials
    return answer


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object from a partner, or empty: its shape is never trusted."""
    return dict(value) if isinstance(value, dict) else {}


def complete_link(session: Session, *, link_id: str, answer: Mapping[str, Any], now: datetime,
                  secret_key: str | None = None) -> FederationLink:
    """Accepting, step 3: the inviter answered; its negotiated capabilities must match ours."""
    link = _lock_link(session, link_id)
    theirs = [str(c) for c in answer.get("capabilities") or []]
    if not isinstance(answer.get("link_id"), str) or set(theirs) != set(link.capabilities):
        return fail_link(session, link_id=link_id, error=f"unexpected handshake answer: {dict(answer)}", now=now)
    link.remote_link_id, link.status, link.handshake_nonce = str(answer["link_id"]), "active", None
    link.remote_merchant = as_object(answer.get("merchant")) or link.remote_merchant
    link.updated_at, link.last_error = now, None
    if secret_key is not None:
        login.store_partner_login(session, link=link, login=answer.get("login"), secret_key=secret_key, now=now)
    link_event(session, link, "federation.link_created", now)
    return link


def fail_link(session: Session, *, link_id: str, error: str, now: datetime) -> FederationLink:
    link = _lock_link(session, link_id)
    link.status, link.last_error, link.updated_at = "failed", error[:500], now
    return link


def _lock_link(session: Session, link_id: str) -> FederationLink:
    link = session.scalar(select(FederationLink).where(FederationLink.id == link_id).with_for_update())
    if link is None:
        raise NotFound(f"No federation link {link_id!r}.")
    return link


def link_event(session: Session, link: FederationLink, type_: str, now: datetime) -> None:
    record_event(session, type=type_, subject_id=link.id, merchant_id=link.merchant_id,
                 payload={"link_id": link.id, "status": link.status, "remote_url": link.remote_url,
                          "capabilities": link.capabilities}, at=now)


# --- links ------------------------------------------------------------------------------------------

def get_link(session: Session, *, link_id: str, principal: Principal) -> FederationLink:
    link = session.get(FederationLink, link_id)
    if link is None or not principal.can_see_merchant(link.merchant_id):
        raise NotFound(f"No federation link {link_id!r}.")
    return link


def list_links(session: Session, *, principal: Principal) -> list[FederationLink]:
    query = select(FederationLink).order_by(FederationLink.id)
    if not principal.is_network_admin:
        query = query.where(FederationLink.merchant_id == principal.merchant_id)
    return list(session.scalars(query))


def set_link_status(session: Session, *, link_id: str, principal: Principal, status: str,
                    now: datetime) -> FederationLink:
    """Suspend (refuse its requests, send nothing) or reactivate a link."""
    link = get_link(session, link_id=link_id, principal=principal)
    principal.ensure_admin_of(link.merchant_id)
    if status not in ("active", "suspended") or link.status not in ("active", "suspended"):
        raise InvalidState(f"Link {link.id} is {link.status}; only active and suspended links switch.")
    link.status, link.updated_at = status, now
    login.set_clients_revoked(session, link_id=link.id, revoked=status != "active", now=now)
    link_event(session, link, f"federation.link_{status}", now)
    return link


def require_capability(link: FederationLink, capability: str) -> None:
    if not caps.allows(link.capabilities, capability):
        raise Forbidden(f"The capability {capability!r} was not negotiated on this link "
                        f"(negotiated: {', '.join(link.capabilities) or 'none'}).")


# --- signed requests ------------------------------------------------------------------------

def verify_inbound(session: Session, *, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes,
                   now: datetime, link_id: str | None = None,
                   presented_key: tuple[str, str] | None = None) -> tuple[Verified, FederationLink | None]:
    """Check a partner's signed request and spend its nonce; 401 for anything wrong.

    The key is the active link's remote key (`link_id` from the path), or, for the
    handshake only, the key the request itself presents (`presented_key`)."""
    link = session.get(FederationLink, link_id) if link_id else None

    def resolve(key_id: str) -> str | None:
        if presented_key is not None:
            return presented_key[1] if key_id == presented_key[0] else None
        if link is not None and link.status == "active" and link.remote_key_id == key_id:
            return link.remote_public_key
        return None

    try:
        verified = verify_signature(method=method, url=url, headers=list(headers), body=body, resolve_key=resolve,
                                    now=int(now.timestamp()))
    except SignatureError as exc:
        raise Unauthorized(f"Signature refused ({exc.reason}): {exc}", reason=exc.reason) from None
    # Nonces older than twice the skew window can never be replayed (the created check refuses them).
    session.execute(delete(FederationNonce).where(FederationNonce.seen_at < now - timedelta(
        seconds=2 * MAX_SKEW_SECONDS)))
    # The primary key decides between two racing copies; this runs in its own transaction, which the
    # failed flush rolls back, so a replay leaves nothing behind.
    replay = Unauthorized("Signature refused (replay): this nonce was already used.", reason="replay")
    if session.get(FederationNonce, (verified.key_id, verified.nonce[:100])) is not None:
        raise replay
    try:
        session.add(FederationNonce(key_id=verified.key_id, nonce=verified.nonce[:100], seen_at=now))
        session.flush()
    except IntegrityError:
        raise replay from None
    return verified, link


# --- pickup locations ------------------------------------------------------------------------

def project(session: Session, *, link: FederationLink, purpose: str, payload_kind: str, payload: dict[str, Any],
            now: datetime, required: Iterable[str] = ()) -> dict[str, Any]:
    """A payload for the partner, through the owner's data-sharing policy (deny by default)."""
    out = sharing.project_outbound(session, owner_merchant_id=link.merchant_id, recipient_kind=RECIPIENT_KIND,
                                   recipient_id=link.id, purpose=purpose, payload_kind=payload_kind,
                                   payload=payload, now=now)
    missing = [path for path in required if _get(out, path) is None]
    if missing:
        raise InvalidState(f"Your data-sharing policy for link {link.id} withholds {', '.join(missing)}, which "
                           f"the partner needs for {purpose}; permit it or do not use this link for it.")
    return out


def _get(payload: Mapping[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def pickup_locations_payload(session: Session, *, link: FederationLink, now: datetime) -> dict[str, Any]:
    """Our locations that accept partners' parcels, as the partner may see them."""
    merchant = network.get_merchant(session, merchant_id=link.merchant_id)
    rows = [loc for loc in network.list_locations(session, merchant_id=link.merchant_id)
            if loc.active and loc.accepts_partner_pickups]
    payload = {"merchant": {"id": merchant.id, "name": merchant.name},
               "fee": {"amount_minor": int(link.terms.get("pickup_fee_minor", 0)),
                       "currency": link.terms.get("currency", merchant.currency)},
               "locations": [{"id": loc.id, "name": loc.name, "address": loc.address, "latitude": loc.latitude,
                              "longitude": loc.longitude, "timezone": loc.timezone,
                              "opening_hours": loc.opening_hours} for loc in rows]}
    return project(session, link=link, purpose="fulfillment", payload_kind=protocol.PICKUP_LOCATIONS.name,
                   payload=payload, now=now)


def store_remote_locations(session: Session, *, link_id: str, payload: Mapping[str, Any],
                           now: datetime) -> list[RemotePickupLocation]:
    """Replace the cached pickup locations of a link with what the partner just sent."""
    session.execute(delete(RemotePickupLocation).where(RemotePickupLocation.link_id == link_id))
    out = []
    fee = as_object(payload.get("fee"))
    for raw in payload.get("locations") or []:
        if not isinstance(raw, Mapping) or not raw.get("id"):
            continue
        row = RemotePickupLocation(
            link_id=link_id, remote_location_id=str(raw["id"])[:80], name=str(raw.get("name") or raw["id"])[:200],
            address=str(raw.get("address") or "")[:300], latitude=_float(raw.get("latitude")),
            longitude=_float(raw.get("longitude")),
            details={"timezone": raw.get("timezone"), "opening_hours": raw.get("opening_hours"), "fee": fee},
            fetched_at=now)
        session.add(row)
        out.append(row)
    session.flush()
    return out


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def federated_pickup_locations(session: Session, *, merchant_id: str | None) -> list[RemotePickupLocation]:
    """Partner pickup points on other instances this merchant (None: any) may send parcels to."""
    query = (select(RemotePickupLocation).join(FederationLink, FederationLink.id == RemotePickupLocation.link_id)
             .where(FederationLink.status == "active").order_by(RemotePickupLocation.name))
    if merchant_id is not None:
        query = query.where(FederationLink.merchant_id == merchant_id)
    return [row for row in session.scalars(query)
            if caps.allows(session.get(FederationLink, row.link_id).capabilities, "pickup")]  # type: ignore[union-attr]


def remote_location(session: Session, *, link_id: str, remote_location_id: str) -> RemotePickupLocation:
    row = session.get(RemotePickupLocation, (link_id, remote_location_id))
    if row is None:
        raise InvalidInput(f"Location {remote_location_id!r} is not a pickup location the partner shared on link "
                           f"{link_id}; refresh the link's pickup locations.")
    return row


# --- outbound messages ----------------------------------------------------------------------------

def queue_message(session: Session, *, link: FederationLink, kind: str, subject_id: str | None, method: str,
                  path: str, body: dict[str, Any], now: datetime) -> FederationOutbound:
    """A message for the partner, sent after this transaction commits (client.deliver)."""
    if link.status != "active" or not link.remote_link_id:
        raise InvalidState(f"Link {link.id} is {link.status}; nothing can be sent through it.")
    message = FederationOutbound(id=new_id("fmsg"), link_id=link.id, kind=kind, subject_id=subject_id, method=method,
                                 path=path, body=body, status="pending", attempts=0, last_error=None, response=None,
                                 created_at=now, next_attempt_at=now, sent_at=None)
    session.add(message)
    session.flush()
    return message


def link_path(link: FederationLink, suffix: str = "") -> str:
    """A path on the partner for this link (its own id for the link)."""
    return f"{protocol.API_PREFIX}/links/{link.remote_link_id}{suffix}"


def due_messages(session: Session, *, now: datetime, link_id: str | None = None,
                 limit: int = 100) -> list[FederationOutbound]:
    query = (select(FederationOutbound).where(FederationOutbound.status == "pending",
                                              FederationOutbound.next_attempt_at <= now)
             .order_by(FederationOutbound.id).limit(limit))
    if link_id is not None:
        query = query.where(FederationOutbound.link_id == link_id)
    return list(session.scalars(query))
