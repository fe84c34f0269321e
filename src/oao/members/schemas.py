"""Pydantic in/out shapes of the members API: accounts, profile, consents, member codes, OIDC clients."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator

from oao.members.consents import DATA_CLASSES

DataClass = Literal["profile.name", "profile.email", "profile.phone", "profile.age_band", "profile.gender",
                    "purchase_history", "device_readings"]
Gender = Literal["female", "male", "other", "undisclosed"]
assert set(DataClass.__args__) == set(DATA_CLASSES)  # type: ignore[attr-defined]


def _stripped(v: str | None) -> str | None:
    return v.strip() if isinstance(v, str) else v


class SignUpIn(BaseModel):
    email: str | None = Field(None, max_length=254, description="email address (this or phone)")
    phone: str | None = Field(None, max_length=32, description="phone number, digits with an optional +")
    password: str = Field(min_length=8, max_length=200)
    name: str = Field("", max_length=200)

    _strip = field_validator("email", "phone", "name")(_stripped)


class LoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=254, description="the email address or phone number signed up with")
    password: str = Field(min_length=1, max_length=200)


class MemberOut(BaseModel):
    """The member's own view of their account (the internal id is theirs to see, never a merchant's)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str | None
    email_verified: bool
    phone: str | None
    phone_verified: bool
    name: str
    birth_year: int | None
    gender: str | None
    created_at: datetime


class MemberSessionOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer oao_ms_…`; shown once")
    expires_at: datetime
    member: MemberOut


class ProfilePatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=32)
    birth_year: StrictInt | None = Field(None, ge=1900, le=2200)
    gender: Gender | None = None

    _strip = field_validator("email", "phone", "name")(_stripped)


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    created_at: datetime


class ConsentIn(BaseModel):
    merchant_id: str = Field(min_length=1, max_length=40)
    data_classes: list[DataClass] = Field(min_length=1, max_length=len(DATA_CLASSES))
    expires_at: AwareDatetime | None = Field(None, description="optional end of the consent")


class ConsentWithdrawIn(BaseModel):
    merchant_id: str = Field(min_length=1, max_length=40)
    data_classes: list[DataClass] = Field(min_length=1, max_length=len(DATA_CLASSES))


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    merchant_id: str
    data_class: str
    granted_at: datetime
    expires_at: datetime | None


class ConsentEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    merchant_id: str
    data_class: str
    action: Literal["granted", "withdrawn"]
    source: str
    expires_at: datetime | None
    at: datetime


class WithdrawOut(BaseModel):
    withdrawn: list[str] = Field(description="data classes that were shared and are not any more")


class MemberCodeOut(BaseModel):
    code: str = Field(description="show as QR or Code 128; valid once, until expires_at")
    expires_at: datetime
    valid_seconds: int
    qr_svg_url: str
    qr_png_url: str
    barcode_svg_url: str
    barcode_png_url: str


class RedeemIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, description="the scanned or typed member code")


class RedeemOut(BaseModel):
    member_ref: str = Field(description="this merchant's pairwise reference for the member")
    profile: dict[str, object] = Field(description="only the fields the member shares with this merchant")


class OidcClientIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    redirect_uris: list[str] = Field(min_length=1, max_length=10)
    merchant_id: str | None = Field(None, max_length=40, description="network admins: the merchant it is for")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be blank")
        return v.strip()


class OidcClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    client_id: str = Field(validation_alias="id")
    merchant_id: str
    name: str
    redirect_uris: list[str]
    created_at: datetime
    revoked_at: datetime | None


class OidcClientCreated(OidcClientOut):
    client_secret: str = Field(description="shown once; OAO keeps only its hash")
