"""Pydantic in/out shapes of the sharing API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class PermissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_class: str = Field(min_length=1, max_length=60, description="a data class, or `member_profile` for all")
    purposes: list[str] = Field(min_length=1, max_length=20, description="purposes it may be used for")


class ProhibitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_class: str = Field(min_length=1, max_length=60)
    purposes: list[str] | None = Field(None, max_length=20, description="null: prohibited for every purpose")


class ConstraintsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_group_size: StrictInt | None = Field(None, ge=1, le=1_000_000,
                                             description="k for aggregated_stats; never below the network's")


class PolicyIn(BaseModel):
    """An ODRL-style policy: permissions, prohibitions (which win), constraints. Deny by default."""

    model_config = ConfigDict(extra="forbid")

    permissions: list[PermissionIn] = Field(default_factory=list, max_length=200)
    prohibitions: list[ProhibitionIn] = Field(default_factory=list, max_length=200)
    constraints: ConstraintsIn = Field(default_factory=ConstraintsIn)

    def document(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    owner_merchant_id: str
    recipient_kind: str
    recipient_id: str
    version: int
    document: dict[str, Any]
    source: str
    agreement_id: str | None
    created_by: str | None
    created_at: datetime
    superseded_at: datetime | None


class EffectivePolicyOut(BaseModel):
    recipient_kind: str
    recipient_id: str
    document: dict[str, Any] = Field(description="what decides now: baseline or default, plus this recipient's")
    min_group_size: int
    versions: list[str] = Field(description="ids of the stored policy versions it combines")


class DisclosureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    owner_merchant_id: str
    recipient_kind: str
    recipient_id: str
    payload_kind: str
    purpose: str
    classes_sent: list[str]
    classes_withheld: list[str]
    unclassified_fields: list[str]
    policy_versions: list[str]
    at: datetime


class VocabularyOut(BaseModel):
    data_classes: list[str]
    purposes: dict[str, str]
    recipient_kinds: list[str]
    payload_kinds: dict[str, dict[str, str]]
    default_min_group_size: int
