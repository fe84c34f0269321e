"""Every outbound payload kind and the data class of each of its fields.

Adding a field to a payload that leaves OAO means classifying it here; until
then the projection drops it. Pure module: importing it only fills the registry.
"""

from __future__ import annotations

from oao.sharing.classes import register_payload_kind

# What a wallet provider is told about a payment (payments.providers.ProviderOrder).
# There is deliberately no path for lines, products or the shopper: even a
# policy permitting line_items could not send them (and payment providers are
# prohibited line_items by the network on top).
PAYMENT_PROVIDER_ORDER = register_payload_kind("payment.provider_order", {
    "out_trade_no": "order_reference",
    "amount_minor": "basket_total",
    "currency": "basket_total",
    "merchant_id": "merchant_reference",
    "store_id": "merchant_reference",
    "expires_at": "payment_status",
})


def _event(type_: str, fields: dict[str, str]) -> None:
    register_payload_kind(f"event:{type_}", fields)


# --- outbox events, as webhook subscribers (and other consumers outside OAO) receive them -----------------
# Field names are those the domains write with core.outbox.record_event; keep them in step.

_ORDER = {
    "order_id": "order_reference", "status": "fulfillment_status", "total_minor": "basket_total",
    "currency": "basket_total", "subtotal_minor": "basket_total", "fees_minor": "basket_total",
    "quote_id": "order_reference", "option_id": "order_reference", "kind": "fulfillment_status",
    "payment_method": "payment_status", "intent_id": "payment_status", "reason": "fulfillment_status",
    "sale_ref": "order_reference", "merchant_id": "merchant_reference", "member_id": "member_reference",
    "channel": "merchant_reference", "location_id": "location",
    "pickup_location_id": "location", "pickup_merchant_id": "merchant_reference", "checkout_id": "order_reference",
    "referrer_merchant_id": "merchant_reference", "referral_commission_bps": "basket_total",
    "lines[].product_id": "line_items", "lines[].category": "line_items", "lines[].quantity": "line_items",
    "lines[].amount_minor": "line_items",
    # orders.service.partner_facts: the partner pickup terms that covered the order (money between merchants,
    # classified like the agreement's own pickup_fee_minor)
    "pickup_fee_minor": "merchant_reference", "pickup_fee_currency": "merchant_reference",
    "pickup_agreement_id": "merchant_reference", "pickup_agreement_version": "merchant_reference",
    "points_hold_id": "loyalty",
}
for _t in ("placed", "payment_started", "confirmed", "cancelled", "completed"):
    _event(f"order.{_t}", _ORDER)

_event("order.returned", {
    "return_id": "order_reference", "order_id": "order_reference", "sale_ref": "order_reference",
    "member_id": "member_reference", "location_id": "location", "channel": "merchant_reference",
    "currency": "basket_total", "goods_minor": "basket_total", "money_refund_minor": "basket_total",
    "refund_minor": "basket_total", "points_reversed": "loyalty", "points_restored": "loyalty",
    "lines[].product_id": "line_items", "lines[].quantity": "line_items", "lines[].amount_minor": "line_items",
    "merchant_id": "merchant_reference", "referrer_merchant_id": "merchant_reference",
    "referral_commission_bps": "basket_total", "checkout_id": "order_reference", "order_total_minor": "basket_total",
})

# checkout.* (orders.service.checkout_event): one shopper payment over the orders of several merchants.
_CHECKOUT = {
    "checkout_id": "order_reference", "status": "fulfillment_status", "total_minor": "basket_total",
    "currency": "basket_total", "referrer_merchant_id": "merchant_reference", "intent_id": "payment_status",
    "reason": "fulfillment_status", "orders[].order_id": "order_reference",
    "orders[].merchant_id": "merchant_reference", "orders[].total_minor": "basket_total",
}
for _t in ("placed", "confirmed", "cancelled"):
    _event(f"checkout.{_t}", _CHECKOUT)

_PAYMENT = {
    "intent_id": "payment_status", "order_id": "order_reference", "pos_sale_id": "order_reference",
    "amount_minor": "basket_total", "currency": "basket_total", "method": "payment_status",
    "provider": "payment_status", "status": "payment_status", "reason": "payment_status",
    "provider_trade_no": "payment_status", "reversed_minor": "basket_total", "refund_id": "order_reference",
    "refund_amount_minor": "basket_total", "message": "payment_status",
    # a checkout's one payment (payments.service._event): each order's share of it
    "checkout_id": "order_reference", "refund_order_id": "order_reference",
    "allocations[].order_id": "order_reference", "allocations[].merchant_id": "merchant_reference",
    "allocations[].amount_minor": "basket_total",
}
for _t in ("intent_created", "succeeded", "canceled", "reversed", "refund_requested", "refund_succeeded",
           "refund_failed", "refund_processing"):
    _event(f"payment.{_t}", _PAYMENT)

_FULFILLMENT = {
    "fulfillment_id": "order_reference", "order_id": "order_reference", "kind": "fulfillment_status",
    "status": "fulfillment_status", "source_location_id": "location", "pickup_location_id": "location",
    "hold_until": "fulfillment_status", "transfer_id": "order_reference", "at_location_id": "location",
    "handed_over_at": "location", "reason": "fulfillment_status",
}
for _t in ("created", "confirmed", "picking", "ready_for_pickup", "in_transit", "out_for_delivery", "completed",
           "return_requested", "cancelled"):
    _event(f"fulfillment.{_t}", _FULFILLMENT)

_TRANSFER = {
    "transfer_id": "order_reference", "status": "fulfillment_status", "from_location_id": "location",
    "to_location_id": "location", "expected_arrival_at": "fulfillment_status",
    "fulfillment_id": "order_reference", "lines[].product_id": "line_items", "lines[].quantity": "line_items",
}
for _t in ("requested", "shipped", "received", "cancelled"):
    _event(f"transfer.{_t}", _TRANSFER)

_event("pos.sale_recorded", {
    "pos_sale_id": "order_reference", "client_sale_id": "order_reference", "receipt_number": "order_reference",
    "location_id": "location", "register_id": "merchant_reference", "sale_ref": "order_reference",
    "merchant_id": "merchant_reference", "channel": "merchant_reference", "price_channel": "merchant_reference",
    "member_ref": "member_reference", "member_id": "member_reference", "currency": "basket_total",
    "total_minor": "basket_total", "payment_intent_id": "payment_status", "payment_method": "payment_status",
    "sold_at": "order_reference",
    **{f"lines[].{f}": "line_items" for f in ("product_id", "gtin", "title", "category", "quantity",
                                              "unit_price_minor", "amount_minor", "line_total_minor")},
})
_event("pos.register_created", {"register_id": "account_admin", "location_id": "location", "name": "account_admin",
                                "kind": "account_admin"})

_event("product.created", {f: "catalog" for f in ("gtin", "title", "brand", "category", "source")})
_event("offer.updated", {f: "catalog" for f in ("product_id", "price_minor", "currency", "channel_prices",
                                                "active", "source")})
for _t in ("products", "offers", "stock"):
    _event(f"import.{_t}", {"rows_total": "account_admin", "rows_imported": "account_admin",
                            "rows_unchanged": "account_admin"})

_event("stock.received", {"location_id": "location", "product_id": "stock_levels", "quantity": "stock_levels",
                          "kind": "stock_levels", "reason": "stock_levels"})
_event("stock.adjusted", {"location_id": "location", "product_id": "stock_levels", "delta": "stock_levels",
                          "reason": "stock_levels"})
_event("stock.counted", {"reference": "stock_levels", "reason": "stock_levels", "rows_counted": "stock_levels",
                         "rows_changed": "stock_levels", "received": "stock_levels", "adjusted": "stock_levels",
                         "created": "stock_levels", "location_ids": "location"})
_event("stock.released", {"reference": "order_reference", "units": "stock_levels", "reason": "stock_levels"})
# Expected receipts (inventory/receipts.py) and purchase suggestions (insights/replenishment.py).
_EXPECTED_RECEIPT = {"receipt_id": "stock_levels", "location_id": "location", "product_id": "stock_levels",
                     "quantity": "stock_levels", "expected_at": "stock_levels", "status": "stock_levels",
                     "reference": "stock_levels"}
for _t in ("expected", "received", "cancelled"):
    _event(f"stock.receipt_{_t}", _EXPECTED_RECEIPT)
for _t in ("proposed", "accepted", "rejected", "superseded"):
    _event(f"purchase_suggestion.{_t}", {"suggestion_id": "stock_levels", "location_id": "location",
                                         "status": "stock_levels", "line_count": "stock_levels",
                                         "units": "stock_levels"})

_event("merchant.created", {"name": "merchant_reference", "slug": "merchant_reference",
                            "currency": "merchant_reference"})
_LOCATION = {"name": "location", "kind": "location", "latitude": "location", "longitude": "location",
             "active": "location", "changed": "location"}
_event("location.created", _LOCATION)
_event("location.updated", _LOCATION)
_event("api_key.created", {"name": "account_admin", "role": "account_admin"})
_event("api_key.revoked", {"name": "account_admin"})
_event("staff_user.created", {"role": "account_admin", "location_id": "location"})

_AGREEMENT = {
    "host_merchant_id": "merchant_reference", "guest_merchant_id": "merchant_reference",
    "pickup_fee_minor": "merchant_reference", "agreement_id": "merchant_reference", "version": "merchant_reference",
    "proposer_merchant_id": "merchant_reference", "acceptor_merchant_id": "merchant_reference",
    "merchant_ids": "merchant_reference", "terms": "merchant_reference", "status": "merchant_reference",
    "counterparty_merchant_id": "merchant_reference", "by_merchant_id": "merchant_reference",
}
for _t in ("created", "proposed", "accepted", "declined", "withdrawn", "ended"):
    _event(f"partner_agreement.{_t}", _AGREEMENT)

# settlement.service.record_entry: one double-entry line of the ledger between merchants.
_event("settlement.entry_recorded", {
    "entry_id": "order_reference", "kind": "order_reference", "reference": "order_reference",
    "debit": "merchant_reference", "credit": "merchant_reference", "merchant_ids": "merchant_reference",
    "amount_minor": "basket_total", "currency": "basket_total",
})

_event("onboarding.qr_printed", {"location_id": "location"})

# federation.* outbox events: the merchant's own record of its links and parcels (what its webhooks get;
# the messages to the partner instance are the federation.parcel_* payload kinds in federation.protocol).
_event("federation.invitation_created", {"invitation_id": "account_admin", "capabilities": "account_admin",
                                         "expires_at": "account_admin"})
_FEDERATION_LINK = {"link_id": "account_admin", "status": "account_admin", "remote_url": "account_admin",
                    "capabilities": "account_admin"}
for _t in ("link_created", "link_active", "link_suspended", "stock_share_updated"):
    _event(f"federation.{_t}", _FEDERATION_LINK)
_FEDERATED_PARCEL = {
    "parcel_id": "order_reference", "link_id": "merchant_reference", "role": "fulfillment_status",
    "status": "fulfillment_status", "order_id": "order_reference", "order_reference": "order_reference",
    "location_id": "location", "remote_location_id": "location", "parcel_count": "fulfillment_status",
    "reason": "fulfillment_status", "fee_minor": "merchant_reference", "currency": "merchant_reference",
    "settlement_entry_id": "order_reference",
}
for _t in ("sent", "expected", "ready", "handed_over", "cancelled"):
    _event(f"federation.parcel_{_t}", _FEDERATED_PARCEL)

_event("member.signed_up", {"method": "member_reference", "issuer": "member_reference"})
_event("member.consent_granted", {"data_classes": "member_reference", "member_ref": "member_reference"})
_event("member.consent_withdrawn", {"data_classes": "member_reference", "member_ref": "member_reference"})
_event("member.code_redeemed", {"member_ref": "member_reference"})

# devices.service._finish (S9): a member's device reordered at this merchant, or said why it did not.
_DEVICE_REORDER = {
    "device_event_id": "order_reference", "device_id": "member_reference", "event_id": "order_reference",
    "rule_id": "member_reference", "member_id": "member_reference", "outcome": "fulfillment_status",
    "reason": "fulfillment_status", "order_id": "order_reference", "product_id": "line_items",
    "quantity": "line_items", "total_minor": "basket_total", "currency": "basket_total",
}
for _t in ("reorder_placed", "reorder_skipped"):
    _event(f"device.{_t}", _DEVICE_REORDER)

# --- federation: what one OAO instance tells another about an order it hands over -------------------------
_FEDERATION_ORDER = {
    "order_id": "order_reference", "order_reference": "order_reference", "remote_order_id": "order_reference",
    "merchant_id": "merchant_reference", "merchant_name": "merchant_reference",
    "pickup_location_id": "location", "pickup_location": "location",
    "parcel_count": "fulfillment_status", "status": "fulfillment_status", "expected_at": "fulfillment_status",
    "ready_at": "fulfillment_status", "handed_over_at": "fulfillment_status", "hold_until": "fulfillment_status",
    "pickup_code_hash": "pickup_code",
    "customer_first_name": "member_profile.first_name", "customer.first_name": "member_profile.first_name",
    "basket_total_minor": "basket_total", "total_minor": "basket_total", "currency": "basket_total",
    **{f"lines[].{f}": "line_items" for f in ("product_id", "gtin", "title", "quantity", "unit_price_minor",
                                              "amount_minor")},
}
register_payload_kind("federation:order_handoff", _FEDERATION_ORDER)
register_payload_kind("federation:order_status", _FEDERATION_ORDER)

# Stock visibility across a link (federation.stock.stock_payload): which shared GTINs are available where. The
# products and figures are stock_levels (the owner permits that class to show them); the places are locations.
register_payload_kind("federation.stock_levels", {
    "merchant": "merchant_reference", "as_of": "stock_levels", "precision": "stock_levels",
    "items[].gtin": "stock_levels", "items[].availability[].band": "stock_levels",
    "items[].availability[].quantity": "stock_levels", "items[].availability[].location_id": "location",
    "items[].availability[].location_name": "location", "items[].availability[].latitude": "location",
    "items[].availability[].longitude": "location",
})

# --- aggregated statistics shared with a partner (sharing.aggregates) -------------------------------------
register_payload_kind("aggregated_stats", {
    "purpose": "aggregated_stats", "group_by": "aggregated_stats", "filters": "aggregated_stats",
    "min_group_size": "aggregated_stats", "groups": "aggregated_stats", "suppressed_groups": "aggregated_stats",
})

_event("sharing.policy_updated", {"policy_id": "account_admin", "recipient_kind": "account_admin",
                                  "recipient_id": "account_admin", "version": "account_admin",
                                  "source": "account_admin", "agreement_id": "account_admin"})

# A refund request to a wallet provider: which charge, which refund, how much. Never the reason.
PAYMENT_PROVIDER_REFUND = register_payload_kind("payment.provider_refund", {
    "out_trade_no": "order_reference",
    "out_request_no": "order_reference",
    "amount_minor": "basket_total",
    "currency": "basket_total",
})
