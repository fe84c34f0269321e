"""Use cases of the network: merchants, locations, staff, API keys, agreements.

Keyword-only functions over a Session; they never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.auth import Principal, Role, hash_password, new_token, token_hash, verify_password
from oao.core.errors import Conflict, NotFound, Unauthorized
from oao.core.ids import new_id
from oao.network.models import ApiKey, Merchant, StaffSession, StaffUser

SESSION_HOURS = 12


# --- authentication -----------------------------------------------------------------

def authenticate(session: Session, *, token: str, now: datetime) -> Principal:
    """Resolve a bearer token (API key or staff session) to the principal behind it."""
    digest = token_hash(token)
    key = session.scalar(select(ApiKey).where(ApiKey.token_hash == digest))
    if key is not None:
        if key.revoked_at is not None:
            raise Unauthorized("This API key has been revoked.")
        return Principal(kind="api_key", id=key.id, name=key.name, role=Role(key.role),
                         merchant_id=key.merchant_id)
    staff_session = session.scalar(select(StaffSession).where(StaffSession.token_hash == digest))
    if staff_session is None:
        raise Unauthorized("Unknown API key or session token.")
    if staff_session.expires_at <= now:
        raise Unauthorized("This session has expired; log in again.")
    user = session.get(StaffUser, staff_session.user_id)
    if user is None or not user.active:
        raise Unauthorized("This staff account is disabled.")
    return staff_principal(user)


def staff_principal(user: StaffUser) -> Principal:
    return Principal(kind="staff", id=user.id, name=user.name, role=Role(user.role),
                     merchant_id=user.merchant_id, location_id=user.location_id)


def log_in(session: Session, *, email: str, password: str, now: datetime) -> tuple[str, StaffUser, datetime]:
    """Check a staff password and open a session; returns (token, user, expiry)."""
    user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None or not user.active or not verify_password(user.password_hash, password):
        raise Unauthorized("Wrong email or password.")
    token = new_token("oao_st")
    expires = now + timedelta(hours=SESSION_HOURS)
    session.add(StaffSession(id=new_id("ses"), user_id=user.id, token_hash=token_hash(token),
                             created_at=now, expires_at=expires))
    return token, user, expires


def create_api_key(session: Session, *, merchant_id: str | None, name: str, now: datetime,
                   role: Role | None = None) -> tuple[str, ApiKey]:
    """Issue an API key; the secret is returned once and only its hash is kept."""
    if merchant_id is not None and session.get(Merchant, merchant_id) is None:
        raise NotFound(f"No merchant {merchant_id!r}.")
    role = role or (Role.MERCHANT_ADMIN if merchant_id else Role.NETWORK_ADMIN)
    token = new_token("oao_sk")
    key = ApiKey(id=new_id("key"), merchant_id=merchant_id, name=name, role=role.value,
                 token_hash=token_hash(token), token_hint=token[:10], created_at=now, revoked_at=None)
    session.add(key)
    return token, key


def create_staff_user(session: Session, *, email: str, name: str, password: str, role: Role,
                      merchant_id: str | None, location_id: str | None, now: datetime) -> StaffUser:
    email = email.strip().lower()
    if session.scalar(select(StaffUser).where(StaffUser.email == email)) is not None:
        raise Conflict(f"A staff user with email {email!r} already exists.")
    if role is not Role.NETWORK_ADMIN and merchant_id is None:
        raise Conflict("Merchant admins and store staff belong to a merchant.")
    user = StaffUser(id=new_id("usr"), email=email, name=name, password_hash=hash_password(password),
                     role=role.value, merchant_id=merchant_id, location_id=location_id, active=True,
                     created_at=now)
    session.add(user)
    return user
