"""The vocabulary of data sharing: data classes, purposes, recipient kinds, and
the registry that maps every outbound payload's fields to a data class.

A payload kind is registered once with a map from field paths to data classes.
Paths use `.` between dict keys and `[]` after a key holding a list, e.g.
`lines[].gtin`. A path whose value is a dict or list classifies its whole
subtree (the registrant vouches for everything under it); a field not covered
by any registered path is *unclassified* and never leaves OAO. This module is
pure (no database, no web) so the projection can be property-tested alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Data classes a policy can permit or prohibit. `member_profile.<field>` is a
# family: a rule on `member_profile` covers every `member_profile.*` class.
BASE_CLASSES = (
    "order_reference",     # ids/numbers of orders, payments, returns, transfers; out_trade_no
    "merchant_reference",  # which merchant / store / location / register the data is about
    "basket_total",        # amounts and currency of a whole order or payment
    "line_items",          # what was bought: products, GTINs, titles, quantities, line prices
    "product_sales",       # product-level sales and stock movements (the merchant's core asset)
    "catalog",             # products and offers as published to shoppers (titles, prices)
    "stock_levels",        # on-hand and reserved quantities at a location
    "fulfillment_status",  # state of an order/fulfilment/transfer, parcel counts, timestamps
    "location",            # pickup/delivery location references and addresses
    "pickup_code",         # the hash of a shopper's pickup code (never the code itself)
    "payment_status",      # payment method, state, provider references
    "member_reference",    # a member id (a pseudonym inside OAO)
    "loyalty",             # points balances and movements
    "device_readings",     # readings from in-store devices (skin profile...)
    "aggregated_stats",    # counts over groups of at least k members
    "account_admin",       # api keys, staff users, registers: the merchant's own administration
)
MEMBER_PROFILE_FIELDS = ("first_name", "name", "email", "phone", "age_band", "birth_year", "gender")
DATA_CLASSES = frozenset(BASE_CLASSES) | {f"member_profile.{f}" for f in MEMBER_PROFILE_FIELDS}
CLASS_FAMILIES = frozenset({"member_profile"})  # usable in rules, matching the family's members

PURPOSES = {
    "fulfillment": "getting the goods to the shopper: pickup, delivery, handover",
    "payment": "taking or refunding the shopper's payment",
    "settlement": "money between merchants: fees, commissions, statements",
    "marketing": "promotions, newsletters and campaigns",
    "analytics": "statistics about sales and shoppers",
    "recommendation": "suggesting products to shoppers",
    "integration": "the owner merchant's own systems (webhooks to its ERP, shop, accounting)",
    "support": "answering the shopper's or the partner's questions about an order",
}

RECIPIENT_KINDS = ("partner_merchant", "payment_provider", "webhook_subscriber", "federated_instance")

UNCLASSIFIED = "unclassified"  # reported in disclosures for fields dropped because nobody classified them

_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]+(\[\])?$")


def is_data_class(name: str) -> bool:
    return name in DATA_CLASSES


def is_rule_class(name: str) -> bool:
    """What a policy rule may name: a data class or a family of them."""
    return name in DATA_CLASSES or name in CLASS_FAMILIES


def rule_covers(rule_class: str, data_class: str) -> bool:
    """True when a rule about `rule_class` applies to `data_class` (equal, or the family of it)."""
    return data_class == rule_class or data_class.startswith(rule_class + ".")


@dataclass(frozen=True)
class PayloadKind:
    name: str
    fields: dict[str, str]

    def class_of(self, path: str) -> str | None:
        """The class of the longest registered prefix of `path`, None when unclassified."""
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            prefix = ".".join(parts[:end])
            while True:  # `lines[]` (an item, or `lines[][]` of a nested list) is under `lines` too
                found = self.fields.get(prefix)
                if found is not None:
                    return found
                if not prefix.endswith("[]"):
                    break
                prefix = prefix[:-2]
        return None


_REGISTRY: dict[str, PayloadKind] = {}


def register_payload_kind(kind: str, fields: dict[str, str]) -> PayloadKind:
    """Declare the fields of an outbound payload kind and their data classes.

    Registering the same kind again with the same map is a no-op (module reloads);
    a different map is an error, so two modules cannot silently disagree.
    """
    for path, data_class in fields.items():
        if not all(_SEGMENT.match(seg) for seg in path.split(".")):
            raise ValueError(f"payload kind {kind!r}: bad field path {path!r}")
        if not is_data_class(data_class):
            raise ValueError(f"payload kind {kind!r}: {path!r} has unknown data class {data_class!r}")
    existing = _REGISTRY.get(kind)
    if existing is not None:
        if existing.fields != fields:
            raise ValueError(f"payload kind {kind!r} is already registered with other fields")
        return existing
    registered = PayloadKind(name=kind, fields=dict(fields))
    _REGISTRY[kind] = registered
    return registered


def payload_kind(kind: str) -> PayloadKind | None:
    return _REGISTRY.get(kind)


def registered_kinds() -> dict[str, PayloadKind]:
    return dict(_REGISTRY)
