"""Pydantic in/out shapes of the webhooks API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DeliveryStatus = Literal["pending", "sending", "delivered", "failed", "cancelled"]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="https:// endpoint that receives POSTed events")
    event_types: list[str] = Field(min_length=1, max_length=100,
                                   description='event types, "order.*" for a family, or ["*"] for every event')
    purpose: str = Field("integration", max_length=80,
                         description="what the receiver uses the data for; your sharing policy for "
                                     "webhook subscribers decides what each purpose may receive")
    description: str = Field("", max_length=200)
    merchant_id: str | None = Field(None, description="network admins: the merchant to subscribe for")


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    event_types: list[str] | None = Field(None, min_length=1, max_length=100)
    purpose: str | None = Field(None, max_length=80)
    description: str | None = Field(None, max_length=200)
    active: bool | None = None


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_previous_hours: int = Field(24, ge=0, le=168,
                                     description="keep signing with the old secret too for this long (0: stop now)")


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str
    url: str
    event_types: list[str]
    purpose: str
    description: str
    active: bool
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionWithSecret(SubscriptionOut):
    secret: str = Field(description="whsec_… signing secret: shown only in this response; store it now")


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    started_at: datetime
    duration_ms: int
    outcome: str
    status_code: int | None
    error: str | None
    response_excerpt: str | None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    subscription_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(DeliveryOut):
    body: str | None = Field(description="the last body sent, exactly as signed")
    attempts: list[AttemptOut]
