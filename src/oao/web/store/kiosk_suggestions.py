"""Kiosk: suggestions for the shopper who scanned her member code (S3), above the store's best sellers.

- "Picked for you": her precomputed for-you list, only with her purchase-history consent for this merchant;
- "For your dry skin": products whose attributes fit the reading the kiosk's skin sensor took during this
  visit (kept in the visit cookie, used for this visit only, never stored: no device-readings consent is
  needed for that);
- "Popular with shoppers aged 25-34": the merchant's list for her age band, only with her age-band
  consent, and only when at least k buyers make up that band (training decides).

Every tile is something she can put in the kiosk basket now: in stock at this store and offered here. When
nothing personal applies (a guest, no consent, no training yet), the page shows the best sellers as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from oao.insights import serving
from oao.members import service as members
from oao.network import service as network

SKIN_TYPES = ("dry", "oily", "combination", "normal", "sensitive")
TILES = 4


@dataclass(frozen=True, slots=True)
class Tile:
    """What kiosk_product_tile.html shows, plus why it is suggested."""

    product_id: str
    gtin: str
    title: str
    category: str
    unit_price_minor: int
    currency: str
    available: int
    reason: str
    sold: int = 0


@dataclass(frozen=True)
class Section:
    key: str  # for_you | skin | age_band
    heading: str
    note: str
    tiles: list[Tile]


def _tiles(answer: serving.Answer, limit: int) -> list[Tile]:
    return [Tile(product_id=i.product_id, gtin=i.gtin, title=i.title, category=i.category,
                 unit_price_minor=i.price_minor, currency=i.currency, available=i.available_here, reason=i.reason)
            for i in answer.items if i.reach == "here"][:limit]


def personal_sections(session: Session, *, merchant_id: str, location_id: str, member_ref: str | None,
                      skin_type: str | None, channel: str, now) -> list[Section]:  # noqa: ANN001
    """The sections above the best sellers, in order; empty when nothing personal applies."""
    member_id = members.resolve_member_ref(session, merchant_id=merchant_id, member_ref=member_ref) \
        if member_ref else None
    location = network.get_location(session, location_id=location_id)
    sections: list[Section] = []
    # Ask for more than shown: the kiosk only shows what is on this store's shelves.
    want = TILES * 3

    def ask(kind: str, **extra: object) -> serving.Answer:
        return serving.recommend(session, merchant_id=merchant_id, location=location, member_id=member_id,
                                 kind=kind, limit=want, now=now, channel=channel, **extra)  # type: ignore[arg-type]

    if member_id is not None:
        tiles = _tiles(ask("for_you"), TILES)
        if tiles:
            sections.append(Section("for_you", "Picked for you", "From what you buy here (you share your "
                                    "purchase history with us; change it in your member area).", tiles))
    if skin_type in SKIN_TYPES:
        tiles = _tiles(ask("attributes", reading={"skin_type": skin_type}), TILES)
        sections.append(Section("skin", f"For your {skin_type} skin", "From this visit's skin scan; the reading "
                                "is forgotten when you finish.", tiles))
    if member_id is not None:
        answer = ask("popular_age_band")
        tiles = _tiles(answer, TILES)
        if tiles:
            band = tiles[0].reason.removeprefix("Popular with shoppers aged ")
            sections.append(Section("age_band", f"Popular with shoppers aged {band}",
                                    "What many shoppers your age buy here, counted together, never one person.",
                                    tiles))
    return sections
