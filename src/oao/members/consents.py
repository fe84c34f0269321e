"""Data classes a member can share with a merchant, and what each one releases.

Nothing consent-gated leaves OAO unless the member currently consents to that
data class for that merchant; this module maps consents to profile fields and
OpenID Connect scopes to data classes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

DATA_CLASSES = ("profile.name", "profile.email", "profile.phone", "profile.age_band", "profile.gender",
                "purchase_history", "device_readings")
PROFILE_CLASSES = DATA_CLASSES[:5]
GENDERS = ("female", "male", "other", "undisclosed")

# OpenID Connect scopes and the data classes they ask for.
SCOPE_CLASSES: dict[str, tuple[str, ...]] = {
    "profile": ("profile.name", "profile.age_band", "profile.gender"),
    "email": ("profile.email",),
    "phone": ("profile.phone",),
}
SCOPES_SUPPORTED = ("openid", *SCOPE_CLASSES)

DESCRIPTIONS = {
    "profile.name": "your name",
    "profile.email": "your email address",
    "profile.phone": "your phone number",
    "profile.age_band": "your age band (not your birth date)",
    "profile.gender": "your gender",
    "purchase_history": "what you bought",
    "device_readings": "readings from in-store devices (such as a skin profile)",
}


@dataclass(frozen=True)
class ProfileFacts:
    name: str
    email: str | None
    email_verified: bool
    phone: str | None
    phone_verified: bool
    birth_year: int | None
    gender: str | None


def age_band(birth_year: int | None, now: datetime) -> str | None:
    """A coarse age band (e.g. `25-34`), never the birth date itself."""
    if birth_year is None:
        return None
    age = now.year - birth_year
    if age < 18:
        return "under-18"
    for low, high in ((18, 24), (25, 34), (35, 44), (45, 54), (55, 64)):
        if age <= high:
            return f"{low}-{high}"
    return "65+"


def classes_for_scope(scope: str) -> list[str]:
    """Data classes an OpenID Connect scope string asks for, in canonical order."""
    wanted = {c for s in scope.split() for c in SCOPE_CLASSES.get(s, ())}
    return [c for c in DATA_CLASSES if c in wanted]


def shared_profile(facts: ProfileFacts, consented: Iterable[str], now: datetime) -> dict[str, object]:
    """Profile fields a merchant may see, keyed by data class name without the `profile.` prefix."""
    allowed = set(consented)
    out: dict[str, object] = {}
    if "profile.name" in allowed and facts.name:
        out["name"] = facts.name
    if "profile.email" in allowed and facts.email:
        out["email"] = facts.email
        out["email_verified"] = facts.email_verified
    if "profile.phone" in allowed and facts.phone:
        out["phone"] = facts.phone
        out["phone_verified"] = facts.phone_verified
    if "profile.age_band" in allowed and (band := age_band(facts.birth_year, now)):
        out["age_band"] = band
    if "profile.gender" in allowed and facts.gender:
        out["gender"] = facts.gender
    return out


def oidc_claims(profile: dict[str, object], scope: str) -> dict[str, object]:
    """Userinfo claims for a token's scope, from an already consent-filtered profile."""
    scopes = set(scope.split())
    claims: dict[str, object] = {}
    if "profile" in scopes:
        for key, claim in (("name", "name"), ("gender", "gender"), ("age_band", "age_band")):
            if key in profile:
                claims[claim] = profile[key]
    if "email" in scopes and "email" in profile:
        claims["email"], claims["email_verified"] = profile["email"], profile["email_verified"]
    if "phone" in scopes and "phone" in profile:
        claims["phone_number"] = profile["phone"]
        claims["phone_number_verified"] = profile["phone_verified"]
    return claims
