"""Tables of the sharing domain: policy versions and the disclosure log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

ANY_RECIPIENT = "*"  # recipient_id of an owner's default policy for a whole recipient kind


class SharingPolicy(Base):
    """One version of an owner's policy for a recipient (or for a recipient kind: recipient_id "*").

    Versions are never edited: a new one supersedes the current one, so the
    history of what was allowed when stays readable (disclosures cite a version).
    """

    __tablename__ = "sharing_policies"
    __table_args__ = (
        UniqueConstraint("owner_merchant_id", "recipient_kind", "recipient_id", "version",
                         name="uq_sharing_policies_version"),
        Index("ix_sharing_policies_current", "owner_merchant_id", "recipient_kind", "recipient_id",
              "superseded_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    recipient_kind: Mapped[str] = mapped_column(String(30))
    recipient_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(20))  # api | agreement
    agreement_id: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    superseded_at: Mapped[datetime | None]


class Disclosure(Base):
    """What left OAO: who got which data classes of which payload, for what purpose, when.

    Only class names and field paths are kept, never the values sent.
    """

    __tablename__ = "sharing_disclosures"
    __table_args__ = (Index("ix_sharing_disclosures_owner_at", "owner_merchant_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_merchant_id: Mapped[str] = mapped_column(String(40))
    recipient_kind: Mapped[str] = mapped_column(String(30))
    recipient_id: Mapped[str] = mapped_column(String(200), index=True)
    payload_kind: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(String(30))
    classes_sent: Mapped[list[Any]]
    classes_withheld: Mapped[list[Any]]
    unclassified_fields: Mapped[list[Any]]
    policy_versions: Mapped[list[Any]]  # ids of the policy versions that decided
    at: Mapped[datetime]
