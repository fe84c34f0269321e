"""What the storefront keeps about an anonymous shopper, and how it says things.

- Where she is: a signed cookie (latitude, longitude, label) set from the
  browser's geolocation, a named area of the network, or a typed address that
  matches one. Areas come from the network's own stores, so a new store in a
  new neighbourhood adds an area without a code change.
- Her cart: a signed cookie of product ids and quantities. Anything that does
  not verify (edited, truncated, from another key) is an empty cart, never an
  error: the cookie is the shopper's, so the server trusts only its own tag.
- Words: money as "¥12.50", times on the network's wall clock ("by 11:10",
  "tomorrow by 18:00"), distances in km with one decimal.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request, Response
from sqlalchemy.orm import Session

from oao.core.geo import haversine_km, valid_coordinates
from oao.core.money import Money
from oao.network import hours
from oao.network import service as network
from oao.network.models import Location
from oao.web.common import sign, signed_ok

LOCATION_COOKIE = "oao_shop_where"
CART_COOKIE = "oao_cart"
COOKIE_DAYS = 30
NETWORK_TZ = "Asia/Shanghai"  # the demo network's wall clock; stores carry their own
MAX_CART_LINES = 30
MAX_QUANTITY = 20
# Where a shopper who has not said where she is gets her distances from (clearly labelled as such).
DEFAULT_AREA = "Hubin"
# Areas are named after the stores shoppers know; warehouses and dark stores are not places people go.
AREA_KINDS = ("store", "pickup_point")
CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}


# --- signed cookie values -----------------------------------------------------------------------

def _pack(request: Request, purpose: str, value: Any) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{payload}.{sign(request, purpose, payload)}"


def _unpack(request: Request, purpose: str, raw: str | None) -> Any:
    """The value of a cookie this server signed, or None for anything else."""
    if not raw or raw.count(".") != 1 or len(raw) > 3000:
        return None
    payload, tag = raw.split(".")
    if not signed_ok(request, purpose, payload, tag):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None


def _set(request: Request, response: Response, name: str, value: str) -> None:
    secure = request.app.state.settings.public_url.startswith("https://")
    response.set_cookie(name, value, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="lax", secure=secure,
                        path="/")


# --- where the shopper is -------------------------------------------------------------------------

@dataclass(frozen=True)
class Where:
    latitude: float
    longitude: float
    label: str
    chosen: bool  # False: the default area, until she says where she is

    def km_to(self, lat: float, lon: float) -> float:
        return haversine_km(self.latitude, self.longitude, lat, lon)


@dataclass(frozen=True)
class Area:
    key: str
    name: str
    latitude: float
    longitude: float
    district: str


def _area_name(loc: Location) -> str:
    return loc.name.split(" · ", 1)[1].strip() if " · " in loc.name else loc.name


def _district(address: str) -> str:
    found = re.search(r"([A-Z][\w']+ District)", address)
    return found.group(1) if found else ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def areas(session: Session) -> list[Area]:
    """Named areas from the network's stores (one per neighbourhood; twins averaged), then districts."""
    places: dict[str, list[Location]] = {}
    districts: dict[str, list[Location]] = {}
    for loc in network.list_locations(session, merchant_id=None, kinds=list(AREA_KINDS)):
        places.setdefault(_area_name(loc), []).append(loc)
        if district := _district(loc.address):
            districts.setdefault(district, []).append(loc)

    def centre(name: str, locs: list[Location], district: str) -> Area:
        return Area(key=_slug(name), name=name, latitude=round(sum(l.latitude for l in locs) / len(locs), 5),
                    longitude=round(sum(l.longitude for l in locs) / len(locs), 5), district=district)

    named = [centre(name, locs, _district(locs[0].address)) for name, locs in sorted(places.items())]
    return named + [centre(name, locs, name) for name, locs in sorted(districts.items())]


def match_address(session: Session, text: str) -> Area | None:
    """The area a typed address points at: an area or district name, a store's name, or a street of a
    store's address ("Pinghai Road"). None when nothing in the network matches."""
    needle = " ".join(text.lower().replace(",", " ").split())
    if len(needle) < 3:
        return None
    known = areas(session)
    for area in known:
        if area.name.lower() == needle or area.key == _slug(needle):
            return area
    for area in known:
        if area.name.lower() in needle or needle in area.name.lower():
            return area
    for loc in network.list_locations(session, merchant_id=None, kinds=list(AREA_KINDS)):
        street = loc.address.split(",")[0].lower()
        street_name = re.sub(r"^\d+\s+", "", street)
        if needle in loc.name.lower() or (len(needle) >= 5 and (needle in street or street_name in needle)):
            return Area(key=_slug(loc.name), name=_area_name(loc), latitude=loc.latitude, longitude=loc.longitude,
                        district=_district(loc.address))
    return None


def where(request: Request, session: Session | None = None) -> Where:
    """The shopper's place from her cookie, else the default area (chosen=False)."""
    value = _unpack(request, "shop-where", request.cookies.get(LOCATION_COOKIE))
    if isinstance(value, list) and len(value) == 3:
        try:
            lat, lon, label = float(value[0]), float(value[1]), str(value[2])[:80]
        except (TypeError, ValueError):
            lat, lon, label = 999.0, 999.0, ""
        if valid_coordinates(lat, lon):
            return Where(latitude=lat, longitude=lon, label=label or "your location", chosen=True)
    default = None
    if session is not None:
        default = next((a for a in areas(session) if a.name == DEFAULT_AREA), None)
    if default is None:
        return Where(latitude=30.2585, longitude=120.1660, label=DEFAULT_AREA, chosen=False)
    return Where(latitude=default.latitude, longitude=default.longitude, label=default.name, chosen=False)


def remember_where(request: Request, response: Response, *, latitude: float, longitude: float, label: str) -> None:
    _set(request, response, LOCATION_COOKIE,
         _pack(request, "shop-where", [round(latitude, 5), round(longitude, 5), label[:80]]))


# --- the cart -------------------------------------------------------------------------------------

def cart(request: Request) -> dict[str, int]:
    """product_id -> quantity, in the order added; {} for a missing or tampered cookie."""
    value = _unpack(request, "shop-cart", request.cookies.get(CART_COOKIE))
    if not isinstance(value, dict):
        return {}
    lines: dict[str, int] = {}
    for product_id, quantity in list(value.items())[:MAX_CART_LINES]:
        if isinstance(product_id, str) and len(product_id) <= 40 and isinstance(quantity, int) \
                and 1 <= quantity <= MAX_QUANTITY:
            lines[product_id] = quantity
    return lines


def save_cart(request: Request, response: Response, lines: dict[str, int]) -> None:
    if not lines:
        response.delete_cookie(CART_COOKIE, path="/")
        return
    _set(request, response, CART_COOKIE, _pack(request, "shop-cart", lines))


def cart_count(lines: dict[str, int]) -> int:
    return sum(lines.values())


# --- words ----------------------------------------------------------------------------------------

def money(amount_minor: int, currency: str) -> str:
    """¥12.50 for the currencies a shopper knows by symbol, "12.50 SGD" otherwise."""
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol is None:
        return Money(amount_minor, currency).format()
    text = Money(abs(amount_minor), currency).format().rsplit(" ", 1)[0]
    return f"{'-' if amount_minor < 0 else ''}{symbol}{text}"


def fee_words(amount_minor: int, currency: str) -> str:
    return "free" if amount_minor == 0 else money(amount_minor, currency)


def when_words(at: datetime | str, now: datetime, tz: str = NETWORK_TZ) -> str:
    """"by 11:10", "tomorrow by 18:00", "on Friday by 09:15" or "on 3 December by 10:00"."""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    text = hours.wall_clock(when, tz, now)
    if " " not in text:
        return f"by {text}"
    clock, rest = text.split(" ", 1)
    return f"{rest} by {clock}"


def clock_words(at: datetime, now: datetime, tz: str = NETWORK_TZ) -> str:
    """"18:40", "08:00 tomorrow", …: a moment rather than a deadline."""
    return hours.wall_clock(at, tz, now)


def km(distance_km: float) -> str:
    return f"{distance_km:.1f} km"


def open_words(loc: Location, now: datetime) -> tuple[bool, str]:
    """(open now, "Open until 23:00" / "Open 24 hours" / "Closed · opens 07:00 tomorrow")."""
    closures = list(loc.closures or ())
    if hours.is_open(loc.opening_hours, closures, loc.timezone, now):
        until = hours.closes_at(loc.opening_hours, closures, loc.timezone, now)
        return True, "Open 24 hours" if until is None else f"Open until {hours.wall_clock(until, loc.timezone, now)}"
    opens = hours.next_open(loc.opening_hours, closures, loc.timezone, now)
    return False, "Closed" if opens is None else f"Closed · opens {hours.wall_clock(opens, loc.timezone, now)}"


def route_hint(distance_km: float) -> str:
    """How long getting there takes, in words: walking up to 2.5 km, then a short ride."""
    if distance_km <= 2.5:
        minutes = max(2, round(distance_km * 1.3 / 5.0 * 60 / 5) * 5)  # streets are not straight lines
        return f"about {minutes} minutes on foot"
    minutes = max(5, round(distance_km * 1.3 / 25.0 * 60 / 5) * 5)
    return f"about {minutes} minutes by taxi or bike"


def street(address: str) -> str:
    """The first part of an address ("88 Pinghai Road"), what a shopper looks for on a sign."""
    parts = [p.strip() for p in address.split(",") if p.strip()]
    if not parts:
        return ""
    # "B1, 258 Kaixuan Road": a floor or unit alone is no help on the street.
    return f"{parts[0]}, {parts[1]}" if len(parts[0]) < 6 and len(parts) > 1 else parts[0]


def category_name(category: str) -> str:
    return category.replace("_", " ").replace("meat seafood", "meat & seafood").capitalize()
