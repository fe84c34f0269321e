"""Request and response bodies of orders."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from oao.fulfillment.schemas import FulfillmentOut
from oao.payments.schemas import OrderPaymentOut

PaymentMethod = Literal["pay_at_pickup", "pay_on_delivery", "wallet_qr"]


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=200)
    phone: str = Field("", max_length=40)
    email: str = Field("", max_length=254)


class PointsIn(BaseModel):
    """Pay part (or all) of the order with the member's points."""

    model_config = ConfigDict(extra="forbid")
    programme_id: str = Field(..., min_length=1, max_length=40,
                              description="the points programme (e.g. the network's card, `GET /loyalty/programmes`)"
                                          "; its currency must be the order's")
    amount_minor: int = Field(..., ge=1, le=10**12,
                              description="how much of the order total the points pay, in minor units (at most the "
                                          "total); the points needed are rounded up")


class OrderPointsOut(BaseModel):
    hold_id: str = Field(description="the loyalty hold (`GET /loyalty/holds/{hold_id}`)")
    programme_id: str
    programme_name: str
    points: int = Field(description="points held (status `held`) or spent")
    amount_minor: int = Field(description="what the points pay of the order total; the rest is paid in money")
    currency: str
    status: Literal["held", "spent", "released", "restored"] = Field(
        description="`held` until the order is confirmed, then `spent`; `released` (never spent) or `restored` "
                    "(given back) when the order is cancelled or expires unpaid")


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quote_id: str = Field(..., max_length=40)
    option_id: str = Field(..., max_length=40)
    customer: CustomerIn = Field(default_factory=CustomerIn)
    member_ref: str | None = Field(None, min_length=1, max_length=80,
                                   description="the shopper's member reference for this merchant (from a scanned "
                                               "member code or the shared login): points are earned on completion")
    payment_method: PaymentMethod | None = Field(
        None, description="Agree an in-store tender now, or `wallet_qr` to pay by wallet (the answer carries "
                          "the QR; the order is confirmed when the wallet says it is paid); omit to hold the "
                          "stock until /pay is called. With `points`, this pays the rest.")
    points: PointsIn | None = Field(
        None, description="pay all or part of the order with the member's points (needs `member_ref`): they are "
                          "held now, spent when the order is confirmed and given back if it is cancelled or expires "
                          "unpaid. Points covering the whole total confirm the order at once (`payment_method` "
                          "`points`). Refused: no member (422 points-need-member), more than the total "
                          "(422 points-over-total), a programme of another currency or closed (422 "
                          "points-programme-mismatch), not enough points (409 insufficient-points).")
    referrer_merchant_id: str | None = Field(
        None, min_length=1, max_length=40,
        description="the merchant selling this on the seller's behalf (S3: a kiosk's endless aisle), which earns "
                    "the commission of its accepted referral agreement with the seller (copied onto the order now). "
                    "Only that merchant itself or the network may set it; it may then place an order sold by the "
                    "partner, and `member_ref` is its own reference for the shopper. Refused without an accepted "
                    "referral agreement (422) or by another caller (403).")


class PayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payment_method: PaymentMethod


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("cancelled by the shopper", min_length=1, max_length=200)


class OrderLineOut(BaseModel):
    id: str
    product_id: str
    gtin: str
    title: str
    quantity: int
    unit_price_minor: int
    fulfillment_id: str


class OrderOut(BaseModel):
    id: str
    merchant_id: str
    status: Literal["pending_payment", "confirmed", "completed", "cancelled"]
    channel: str
    member_ref: str | None = Field(None, description="the member's reference for this merchant, if a member")
    currency: str
    subtotal_minor: int
    fees_minor: int
    total_minor: int
    payment_method: str
    payment_due_at: datetime | None
    cancel_reason: str | None
    customer: CustomerIn
    lines: list[OrderLineOut]
    fulfillments: list[FulfillmentOut]
    payment: OrderPaymentOut | None = Field(None, description="the wallet payment (wallet_qr), if any")
    points: OrderPointsOut | None = Field(None, description="the part paid with points, if any")
    referrer_merchant_id: str | None = Field(None, description="the merchant that sold it for the seller, if any")
    referral_commission_bps: int | None = Field(
        None, description="the referrer's commission in basis points of the order total, fixed when placed")
    checkout_id: str | None = Field(None, description="the checkout it was placed and paid in, with other "
                                                      "merchants' orders (`GET /checkouts/{id}`)")
    money_due_minor: int = Field(description="what the order costs in money: the total less what points pay")
    created_at: datetime
    updated_at: datetime


class ReturnLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_line_id: str = Field(..., max_length=40)
    quantity: int = Field(..., ge=1, le=100_000)


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    return_id: str = Field(..., min_length=8, max_length=80,
                           description="the store's own id for this return; resending it replays the return")
    location_id: str = Field(..., max_length=40, description="the store taking the goods back")
    lines: list[ReturnLineIn] = Field(..., min_length=1, max_length=200)
    reason: str = Field("", max_length=200)


class ReturnRefundOut(BaseModel):
    id: str = Field(description="the refund (`rfd_…`), readable under /payments/intents/{intent_id}/refunds")
    intent_id: str
    refund_id: str = Field(description="our refund id, the provider's idempotency key for it")
    amount_minor: int
    method: str | None
    provider: str
    status: str = Field(description="`succeeded` (cash back at the counter, or the wallet confirmed), `pending` "
                                    "(sent to the wallet; retried until it confirms) or `failed`")


class ReturnLineOut(BaseModel):
    order_line_id: str
    product_id: str
    quantity: int
    amount_minor: int


class ReturnOut(BaseModel):
    id: str
    return_id: str
    order_id: str
    merchant_id: str
    location_id: str
    currency: str
    goods_minor: int = Field(description="value of the returned lines")
    money_refund_minor: int = Field(description="given back to the original money tenders")
    points_refund_minor: int = Field(description="the part of the value that was paid in points")
    points_reversed: int = Field(description="points earned on the returned lines, taken back")
    points_restored: int = Field(description="points spent on the order, given back")
    lines: list[ReturnLineOut]
    refunds: list[ReturnRefundOut]
    reason: str
    created_at: datetime


CheckoutMethod = Literal["wallet_qr", "in_person"]


class CheckoutLegIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quote_id: str = Field(..., max_length=40, description="a quote of this merchant's lines (one quote per merchant)")
    option_id: str = Field(..., max_length=40)


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    legs: list[CheckoutLegIn] = Field(..., min_length=1, max_length=10,
                                      description="one option per merchant: each becomes that merchant's order")
    customer: CustomerIn = Field(default_factory=CustomerIn)
    member_ref: str | None = Field(None, min_length=1, max_length=80,
                                   description="the shopper's member reference (the referrer's, the caller's, or "
                                               "for the network one seller's); each order gets the member")
    payment_method: CheckoutMethod = Field(
        "wallet_qr", description="`wallet_qr`: ONE wallet payment for the sum (the answer carries its QR); every "
                                 "order is confirmed when it is paid, and all are cancelled if it is not. "
                                 "`in_person`: each merchant is paid at its own pickup or delivery.")
    referrer_merchant_id: str | None = Field(
        None, min_length=1, max_length=40,
        description="the merchant selling the others' products (it must have an accepted referral agreement with "
                    "each of them): every order not sold by it carries it as referrer with the agreed commission")


class CheckoutOut(BaseModel):
    id: str = Field(description="the checkout (`chk_…`), also the wallet's merchant order number")
    status: Literal["pending_payment", "confirmed", "cancelled"]
    payment_method: str
    currency: str
    total_minor: int = Field(description="the sum of all orders' totals: what the one payment is for")
    referrer_merchant_id: str | None
    payment_due_at: datetime | None
    cancel_reason: str | None
    orders: list[OrderOut] = Field(description="the orders the caller may read (a seller sees its own)")
    payment: OrderPaymentOut | None = Field(None, description="the one wallet payment, if paid by wallet")
    created_at: datetime
    updated_at: datetime
