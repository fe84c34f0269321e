"""Members: sign-up and log-in, external identities, consents, member codes and pairwise refs.

Merchants only ever see a member through a pairwise ref (see pairwise.py) and
only the profile fields the member currently consents to share with them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.config import Settings
from oao.core.auth import hash_password, new_token, token_hash, verify_password
from oao.core.db import get_or_404
from oao.core.errors import Conflict, Gone, InvalidInput, NotFound, Unauthorized
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.members import codes, pairwise
from oao.members.consents import DATA_CLASSES, GENDERS, ProfileFacts, shared_profile
from oao.members.models import (
    ExternalLoginState,
    Member,
    MemberCode,
    MemberConsent,
    MemberConsentEvent,
    MemberIdentity,
    MemberSecret,
    MemberSession,
)
from oao.network import service as network_service

SESSION_DAYS = 30
LOGIN_STATE_MINUTES = 10
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9]{6,15}$")


class MemberCodeExpired(Gone):
    slug, title = "member-code-expired", "Member code expired"


class MemberCodeUsed(Gone):
    slug, title = "member-code-used", "Member code already used"


class MemberCodeInvalid(InvalidInput):
    slug, title = "member-code-invalid", "Not a valid member code"


class MemberCodeOtherNetwork(InvalidInput):
    slug, title = "member-code-other-network", "Member code of another network"


# --- accounts ------------------------------------------------------------------------------

def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidInput(f"{email!r} is not an email address.", errors=[{"field": "email", "message": "invalid"}])
    return email


def normalise_phone(phone: str) -> str:
    phone = re.sub(r"[\s\-()]", "", phone)
    if not PHONE_RE.match(phone):
        raise InvalidInput("A phone number is 6 to 15 digits, optionally after a +.",
                           errors=[{"field": "phone", "message": "invalid"}])
    return phone


def _check_password(password: str) -> None:
    if not 8 <= len(password) <= 200:
        raise InvalidInput("A password has 8 to 200 characters.",
                           errors=[{"field": "password", "message": "8 to 200 characters"}])


def sign_up(session: Session, *, email: str | None, phone: str | None, password: str, name: str,
            now: datetime) -> Member:
    """Create a member who logs in with an email or phone and a password."""
    if not email and not phone:
        raise InvalidInput("Sign up with an email address or a phone number.")
    _check_password(password)
    email = normalise_email(email) if email else None
    phone = normalise_phone(phone) if phone else None
    if email and session.scalar(select(Member.id).where(Member.email == email)):
        raise Conflict("A member with this email address already exists; log in instead.")
    if phone and session.scalar(select(Member.id).where(Member.phone == phone)):
        raise Conflict("A member with this phone number already exists; log in instead.")
    member = Member(id=new_id("mem"), email=email, phone=phone, email_verified=False, phone_verified=False,
                    password_hash=hash_password(password), name=name.strip(), birth_year=None, gender=None,
                    created_at=now, updated_at=now)
    session.add(member)
    session.flush()
    ensure_pairwise_key(session, now=now)
    record_event(session, type="member.signed_up", subject_id=member.id, merchant_id=None,
                 payload={"method": "password"}, at=now)
    return member


def _find_by_login(session: Session, login: str) -> Member | None:
    login = login.strip()
    if "@" in login:
        return session.scalar(select(Member).where(Member.email == login.lower()))
    return session.scalar(select(Member).where(Member.phone == re.sub(r"[\s\-()]", "", login)))


def check_credentials(session: Session, *, login: str, password: str) -> Member:
    """The member with this email/phone and password, or 401 (same answer for either mistake)."""
    member = _find_by_login(session, login) if len(login) <= 254 and len(password) <= 200 else None
    if member is None or member.password_hash is None or not verify_password(member.password_hash, password):
        raise Unauthorized("Wrong email/phone or password.")
    return member


def start_session(session: Session, *, member_id: str, now: datetime) -> tuple[str, datetime]:
    """Open a member session; returns the `oao_ms_…` token (only its hash is stored) and its expiry."""
    token = new_token("oao_ms")
    expires = now + timedelta(days=SESSION_DAYS)
    session.add(MemberSession(id=new_id("mss"), member_id=member_id, token_hash=token_hash(token),
                              created_at=now, expires_at=expires, revoked_at=None))
    session.flush()
    return token, expires


def log_in(session: Session, *, login: str, password: str, now: datetime) -> tuple[str, Member, datetime]:
    """Check the password and open a session."""
    member = check_credentials(session, login=login, password=password)
    token, expires = start_session(session, member_id=member.id, now=now)
    return token, member, expires


def authenticate_member(session: Session, *, token: str, now: datetime) -> Member:
    """The member behind a session token, or 401."""
    row = session.scalar(select(MemberSession).where(MemberSession.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("Unknown or ended member session; log in again.")
    if row.expires_at <= now:
        raise Unauthorized("This member session has expired; log in again.")
    return get_member(session, member_id=row.member_id)


def log_out(session: Session, *, token: str, now: datetime) -> None:
    """End a member session."""
    session.execute(update(MemberSession).where(MemberSession.token_hash == token_hash(token),
                                                MemberSession.revoked_at.is_(None)).values(revoked_at=now))


def get_member(session: Session, *, member_id: str) -> Member:
    """One member by internal id (404 if unknown)."""
    return get_or_404(session, Member, member_id, "member")


def update_profile(session: Session, *, member_id: str, changes: dict[str, Any], now: datetime) -> Member:
    """Change name, birth year, gender, email or phone (a changed email or phone is unverified again)."""
    member = get_member(session, member_id=member_id)
    if "name" in changes:
        member.name = (changes["name"] or "").strip()
    if "birth_year" in changes:
        year = changes["birth_year"]
        if year is not None and not 1900 <= year <= now.year:
            raise InvalidInput(f"birth_year must be between 1900 and {now.year}.")
        member.birth_year = year
    if "gender" in changes:
        if changes["gender"] is not None and changes["gender"] not in GENDERS:
            raise InvalidInput(f"gender is one of {', '.join(GENDERS)}.")
        member.gender = changes["gender"]
    if "email" in changes and changes["email"] != member.email:
        email = normalise_email(changes["email"]) if changes["email"] else None
        if email and session.scalar(select(Member.id).where(Member.email == email, Member.id != member.id)):
            raise Conflict("Another member uses this email address.")
        member.email, member.email_verified = email, False
    if "phone" in changes and changes["phone"] != member.phone:
        phone = normalise_phone(changes["phone"]) if changes["phone"] else None
        if phone and session.scalar(select(Member.id).where(Member.phone == phone, Member.id != member.id)):
            raise Conflict("Another member uses this phone number.")
        member.phone, member.phone_verified = phone, False
    member.updated_at = now
    session.flush()
    return member


def list_identities(session: Session, *, member_id: str) -> list[MemberIdentity]:
    """External identities linked to a member."""
    return list(session.scalars(select(MemberIdentity).where(MemberIdentity.member_id == member_id)
                                .order_by(MemberIdentity.id)))


# --- external OpenID Connect login ---------------------------------------------------------

def save_login_state(session: Session, *, state: str, nonce: str, code_verifier: str,
                     link_member_id: str | None, now: datetime) -> None:
    """Remember one round trip to the external provider (state is stored hashed)."""
    session.add(ExternalLoginState(id=new_id("xls"), state_hash=token_hash(state), nonce=nonce,
                                   code_verifier=code_verifier, link_member_id=link_member_id, created_at=now,
                                   expires_at=now + timedelta(minutes=LOGIN_STATE_MINUTES), used_at=None))
    session.flush()


def claim_login_state(session: Session, *, state: str, now: datetime) -> ExternalLoginState:
    """Take the round trip this `state` belongs to, once; 422 if unknown, used or expired."""
    digest = token_hash(state)
    claimed = session.execute(update(ExternalLoginState).where(
        ExternalLoginState.state_hash == digest, ExternalLoginState.used_at.is_(None),
        ExternalLoginState.expires_at > now).values(used_at=now))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInput("This login attempt is unknown, already finished or too old; start again.")
    return session.scalars(select(ExternalLoginState).where(ExternalLoginState.state_hash == digest)).one()


def log_in_external(session: Session, *, issuer: str, subject: str, email: str | None, email_verified: bool,
                    name: str | None, link_member_id: str | None, now: datetime) -> tuple[Member, bool]:
    """The member for a verified external identity (issuer + subject), linking or creating one.

    Links to an existing member only by the identity itself, by an explicit link
    from a logged-in member, or by email when BOTH sides have verified it.
    Returns the member and whether it was created.
    """
    identity = session.scalar(select(MemberIdentity).where(MemberIdentity.issuer == issuer,
                                                           MemberIdentity.subject == subject))
    email = email.strip().lower() if email and EMAIL_RE.match(email.strip()) else None
    if identity is not None:
        if link_member_id and identity.member_id != link_member_id:
            raise Conflict("This external account is already linked to another member.")
        identity.last_login_at, identity.email, identity.email_verified = now, email, email_verified
        return get_member(session, member_id=identity.member_id), False
    member: Member | None = None
    created = False
    if link_member_id:
        member = get_member(session, member_id=link_member_id)
    elif email and email_verified:
        member = session.scalar(select(Member).where(Member.email == email, Member.email_verified.is_(True)))
    if member is None:
        taken = email is not None and session.scalar(select(Member.id).where(Member.email == email)) is not None
        # An unverified address (theirs or ours) is never a reason to link; the new member simply
        # goes without it when the address is already taken.
        keep_email = email if email and not taken else None
        member = Member(id=new_id("mem"), email=keep_email, email_verified=bool(keep_email and email_verified),
                        phone=None, phone_verified=False, password_hash=None, name=(name or "").strip()[:200],
                        birth_year=None, gender=None, created_at=now, updated_at=now)
        session.add(member)
        session.flush()
        ensure_pairwise_key(session, now=now)
        created = True
        record_event(session, type="member.signed_up", subject_id=member.id, merchant_id=None,
                     payload={"method": "external_oidc", "issuer": issuer}, at=now)
    session.add(MemberIdentity(id=new_id("mid"), member_id=member.id, issuer=issuer, subject=subject, email=email,
                               email_verified=email_verified, created_at=now, last_login_at=now))
    session.flush()
    return member, created


# --- consents ------------------------------------------------------------------------------

def _check_classes(data_classes: list[str]) -> list[str]:
    unknown = [c for c in data_classes if c not in DATA_CLASSES]
    if unknown or not data_classes:
        raise InvalidInput(f"Unknown data class(es) {unknown}; choose from {', '.join(DATA_CLASSES)}."
                           if unknown else "Name at least one data class.")
    return list(dict.fromkeys(data_classes))


def grant_consents(session: Session, *, member_id: str, merchant_id: str, data_classes: list[str], now: datetime,
                   expires_at: datetime | None = None, source: str = "api") -> list[MemberConsent]:
    """Let this merchant see these data classes (until `expires_at` if given)."""
    network_service.get_merchant(session, merchant_id=merchant_id)
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future.")
    out = []
    for data_class in _check_classes(data_classes):
        row = session.scalar(select(MemberConsent).where(MemberConsent.member_id == member_id,
                                                         MemberConsent.merchant_id == merchant_id,
                                                         MemberConsent.data_class == data_class))
        if row is None:
            row = MemberConsent(id=new_id("cns"), member_id=member_id, merchant_id=merchant_id,
                                data_class=data_class, granted_at=now, expires_at=expires_at, withdrawn_at=None)
            session.add(row)
        else:
            row.granted_at, row.expires_at, row.withdrawn_at = now, expires_at, None
        session.add(MemberConsentEvent(id=new_id("cne"), member_id=member_id, merchant_id=merchant_id,
                                       data_class=data_class, action="granted", source=source,
                                       expires_at=expires_at, at=now))
        out.append(row)
    session.flush()
    record_event(session, type="member.consent_granted", subject_id=member_id, merchant_id=merchant_id,
                 payload={"data_classes": [r.data_class for r in out],
                          "member_ref": member_ref_for(session, merchant_id=merchant_id, member_id=member_id)}, at=now)
    return out


def withdraw_consents(session: Session, *, member_id: str, merchant_id: str, data_classes: list[str], now: datetime,
                      source: str = "api") -> list[str]:
    """Stop sharing these data classes with this merchant; returns the ones that were shared."""
    network_service.get_merchant(session, merchant_id=merchant_id)
    withdrawn = []
    for data_class in _check_classes(data_classes):
        moved = session.execute(update(MemberConsent).where(
            MemberConsent.member_id == member_id, MemberConsent.merchant_id == merchant_id,
            MemberConsent.data_class == data_class, MemberConsent.withdrawn_at.is_(None)).values(withdrawn_at=now))
        if moved.rowcount:  # type: ignore[attr-defined]
            withdrawn.append(data_class)
            session.add(MemberConsentEvent(id=new_id("cne"), member_id=member_id, merchant_id=merchant_id,
                                           data_class=data_class, action="withdrawn", source=source,
                                           expires_at=None, at=now))
    session.flush()
    if withdrawn:
        ref = member_ref_for(session, merchant_id=merchant_id, member_id=member_id)
        record_event(session, type="member.consent_withdrawn", subject_id=member_id, merchant_id=merchant_id,
                     payload={"data_classes": withdrawn, "member_ref": ref}, at=now)
    return withdrawn


def _current(now: datetime) -> Any:
    return (MemberConsent.withdrawn_at.is_(None)
            & or_(MemberConsent.expires_at.is_(None), MemberConsent.expires_at > now))


def list_consents(session: Session, *, member_id: str, now: datetime) -> list[MemberConsent]:
    """A member's current consents, by merchant and data class."""
    return list(session.scalars(select(MemberConsent).where(MemberConsent.member_id == member_id, _current(now))
                                .order_by(MemberConsent.merchant_id, MemberConsent.data_class)))


def consent_history(session: Session, *, member_id: str) -> list[MemberConsentEvent]:
    """Every grant and withdrawal of a member, oldest first."""
    return list(session.scalars(select(MemberConsentEvent).where(MemberConsentEvent.member_id == member_id)
                                .order_by(MemberConsentEvent.at, MemberConsentEvent.id)))


def consented_classes(session: Session, *, member_id: str, merchant_id: str, now: datetime) -> set[str]:
    """Data classes this member currently shares with this merchant."""
    return set(session.scalars(select(MemberConsent.data_class).where(
        MemberConsent.member_id == member_id, MemberConsent.merchant_id == merchant_id, _current(now))))


def has_consent(session: Session, *, member_id: str, merchant_id: str, data_class: str, now: datetime) -> bool:
    """Whether the member currently consents to share this data class with this merchant."""
    return data_class in consented_classes(session, member_id=member_id, merchant_id=merchant_id, now=now)


def profile_facts(member: Member) -> ProfileFacts:
    return ProfileFacts(name=member.name, email=member.email, email_verified=member.email_verified,
                        phone=member.phone, phone_verified=member.phone_verified, birth_year=member.birth_year,
                        gender=member.gender)


def consented_profile(session: Session, *, member_id: str, merchant_id: str, now: datetime) -> dict[str, object]:
    """The profile fields this merchant may see right now (nothing without a current consent)."""
    member = get_member(session, member_id=member_id)
    allowed = consented_classes(session, member_id=member_id, merchant_id=merchant_id, now=now)
    return shared_profile(profile_facts(member), allowed, now)


# --- pairwise refs -------------------------------------------------------------------------

PAIRWISE_KEY = "pairwise_ref_key"


def ensure_pairwise_key(session: Session, *, now: datetime) -> str:
    """The network's pairwise-ref key, created at the first write that needs it (every sign-up)."""
    row = session.get(MemberSecret, PAIRWISE_KEY)
    if row is not None:
        return row.value
    try:
        with session.begin_nested():  # two first sign-ups racing: one insert wins, the other reads it
            session.add(MemberSecret(name=PAIRWISE_KEY, value=secrets.token_urlsafe(48), created_at=now))
    except IntegrityError:
        pass
    return session.get(MemberSecret, PAIRWISE_KEY, populate_existing=True).value  # type: ignore[union-attr]


def _pairwise_key(session: Session) -> str | None:
    row = session.get(MemberSecret, PAIRWISE_KEY)
    return row.value if row is not None else None


def member_ref_for(session: Session, *, merchant_id: str, member_id: str) -> str:
    """The pairwise ref this merchant knows the member by (stable per merchant, unrelated across merchants)."""
    key = _pairwise_key(session)
    if key is None:  # no member was ever created through this service, so this one cannot exist either
        raise NotFound(f"No member {member_id!r}.")
    return pairwise.member_ref(secret=key, merchant_id=merchant_id, member_id=member_id)


def resolve_member_ref(session: Session, *, merchant_id: str, member_ref: str) -> str | None:
    """The internal member id behind a ref issued to this merchant, or None if unknown."""
    key = _pairwise_key(session)
    if key is None:
        return None
    member_id = pairwise.member_id_from_ref(secret=key, merchant_id=merchant_id, ref=member_ref)
    if member_id is None or session.get(Member, member_id) is None:
        return None
    return member_id


def require_member_ref(session: Session, *, merchant_id: str, member_ref: str) -> str:
    """Like resolve_member_ref, but 404 when the ref is unknown to this merchant."""
    member_id = resolve_member_ref(session, merchant_id=merchant_id, member_ref=member_ref)
    if member_id is None:
        raise NotFound(f"No member {member_ref!r} at this merchant.")
    return member_id


# --- member codes --------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedCode:
    code: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RedeemedCode:
    member_ref: str
    member_id: str  # internal: for OAO's own services, never sent to a merchant
    profile: dict[str, object] = field(default_factory=dict)


def issue_member_code(session: Session, *, member_id: str, now: datetime, settings: Settings) -> IssuedCode:
    """A fresh one-time code for the member, valid `member_code_seconds`."""
    get_member(session, member_id=member_id)
    code = codes.new_member_code(network=codes.network_tag(settings.public_url), secret=settings.secret_key)
    expires = now + timedelta(seconds=settings.member_code_seconds)
    session.add(MemberCode(id=new_id("mcd"), code_hash=codes.code_hash(code), member_id=member_id, issued_at=now,
                           expires_at=expires, used_at=None, used_by_merchant_id=None))
    session.flush()
    return IssuedCode(code=code, issued_at=now, expires_at=expires)


def member_code_owner(session: Session, *, code: str) -> str | None:
    """The member a code was issued to (for showing its images), or None."""
    row = session.scalar(select(MemberCode).where(MemberCode.code_hash == codes.code_hash(codes.normalise(code))))
    return row.member_id if row is not None else None


def redeem_member_code(session: Session, *, code: str, merchant_id: str, now: datetime,
                       settings: Settings) -> RedeemedCode:
    """Use a member code once at this merchant: the member's pairwise ref and consented profile."""
    code = codes.normalise(code)
    fault = codes.check_member_code(code, network=codes.network_tag(settings.public_url), secret=settings.secret_key)
    if fault is codes.CodeFault.MALFORMED:
        raise MemberCodeInvalid(f"A member code has {codes.CODE_LEN} digits and capital letters; "
                                "this is not one. Scan it again.", reason="malformed")
    if fault is codes.CodeFault.OTHER_NETWORK:
        raise MemberCodeOtherNetwork("This member code belongs to another OAO network; it cannot be used here.",
                                     reason="other_network")
    if fault is codes.CodeFault.TAMPERED:
        raise MemberCodeInvalid("This member code fails its check: it was altered or mistyped.", reason="tampered")
    digest = codes.code_hash(code)
    # One conditional UPDATE decides the winner when two tills scan the same code at once.
    moved = session.execute(update(MemberCode).where(MemberCode.code_hash == digest, MemberCode.used_at.is_(None),
                                                     MemberCode.expires_at > now)
                            .values(used_at=now, used_by_merchant_id=merchant_id))
    row = session.scalar(select(MemberCode).where(MemberCode.code_hash == digest))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        if row is None:
            raise MemberCodeInvalid("No such member code was issued by this network.", reason="unknown")
        if row.used_at is not None:
            raise MemberCodeUsed("This member code was already used; ask the shopper to show a fresh one.",
                                 reason="used")
        raise MemberCodeExpired("This member code has expired; ask the shopper to show a fresh one.",
                                reason="expired")
    assert row is not None
    ref = member_ref_for(session, merchant_id=merchant_id, member_id=row.member_id)
    profile = consented_profile(session, member_id=row.member_id, merchant_id=merchant_id, now=now)
    record_event(session, type="member.code_redeemed", subject_id=row.id, merchant_id=merchant_id,
                 payload={"member_ref": ref}, at=now)
    return RedeemedCode(member_ref=ref, member_id=row.member_id, profile=profile)


def find_member_id(session: Session, *, login: str) -> str | None:
    """Internal id of the member with this email or phone (tests, support tools)."""
    member = _find_by_login(session, login)
    return member.id if member else None
