"""The network's shared catalog (products by GTIN) and merchants' offers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14))  # as given (8, 12, 13 or 14 digits)
    gtin14: Mapped[str] = mapped_column(String(14), unique=True)  # zero-padded, for lookups
    title: Mapped[str] = mapped_column(String(300))
    brand: Mapped[str] = mapped_column(String(120), default="")
    category: Mapped[str] = mapped_column(String(120), default="", index=True)
    attributes: Mapped[dict[str, Any]]
    perishable: Mapped[bool] = mapped_column(Boolean, default=False)
    shelf_life_days: Mapped[int | None] = mapped_column(Integer)
    created_by_merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    created_at: Mapped[datetime]


class Offer(Base):
    """A merchant's price for a product: one price everywhere unless a channel price is set."""

    __tablename__ = "offers"
    __table_args__ = (UniqueConstraint("merchant_id", "product_id", name="uq_offers_merchant_product"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    price_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    channel_prices: Mapped[dict[str, Any]]  # {"online": 1299} only where set on purpose
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]
