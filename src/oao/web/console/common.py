"""What every merchant dashboard page shares: whose merchant it shows, money and time in words.

A merchant admin always sees their own merchant; asking for another one by id
answers 404, like the API. The network admin picks a merchant (?merchant=…),
carried on every link and form of the dashboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse

from oao.core.errors import NotFound
from oao.core.money import CURRENCY_EXPONENTS
from oao.deps import Ctx
from oao.network import service as network
from oao.web.common import render

DEFAULT_TIMEZONE = "Asia/Shanghai"  # the network's home; used for a merchant with no location yet
SYMBOLS = {"CNY": "¥", "JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$", "SGD": "S$", "KRW": "₩"}


def money(amount_minor: int, currency: str) -> str:
    """¥1,234.50 style: the symbol where one is common, else the ISO code after the amount."""
    exp = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    units, minor = divmod(abs(int(amount_minor)), 10 ** exp) if exp else (abs(int(amount_minor)), 0)
    number = f"{units:,}" + (f".{minor:0{exp}d}" if exp else "")
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def amount_text(amount_minor: int, currency: str) -> str:
    """12.50 for 1250 CNY: a price as typed into a form field."""
    exp = CURRENCY_EXPONENTS.get(currency, 2)
    return f"{amount_minor / 10 ** exp:.{exp}f}" if exp else str(amount_minor)


def money_short(amount_minor: int, currency: str) -> str:
    """An axis label: ¥1.2k, ¥35k, ¥1.5M (whole units, no minor digits)."""
    units = amount_minor / 10 ** CURRENCY_EXPONENTS.get(currency, 2)
    symbol = SYMBOLS.get(currency, "")
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if abs(units) >= size:
            scaled = units / size
            text = f"{scaled:.1f}".rstrip("0").rstrip(".") if scaled < 10 else f"{scaled:.0f}"
            return f"{symbol}{text}{suffix}"
    return f"{symbol}{units:.2f}".rstrip("0").rstrip(".")


def to_minor(text: str, currency: str) -> int:
    """'12.50' -> 1250 for CNY; raises ValueError with a message a person can act on."""
    exp = CURRENCY_EXPONENTS.get(currency, 2)
    cleaned = text.strip().replace(",", "").removeprefix(SYMBOLS.get(currency, "")).strip()
    match = re.fullmatch(r"(\d*)(?:\.(\d*))?", cleaned)
    if not cleaned or match is None or not (match.group(1) or match.group(2)):
        raise ValueError(f"Write the price as a number such as 12.50, not {text!r}.")
    whole, frac = match.group(1) or "0", match.group(2) or ""
    if len(frac) > exp:
        raise ValueError(f"A {currency} price has at most {exp} digits after the point.")
    return int(whole) * 10 ** exp + int(frac.ljust(exp, "0") or "0")


@dataclass
class Scope:
    """The merchant a dashboard page is about, and how to keep it on links."""

    ctx: Ctx
    merchant_id: str
    merchant_name: str
    currency: str
    timezone: ZoneInfo
    merchants: list[Any] = field(default_factory=list)  # every merchant, for the network admin's picker

    @property
    def query(self) -> dict[str, str]:
        return {"merchant": self.merchant_id} if self.ctx.principal.is_network_admin else {}

    def link(self, path: str, **params: Any) -> str:
        """A dashboard URL that keeps the chosen merchant (network admin) and the given parameters."""
        pairs = {**self.query, **{k: v for k, v in params.items() if v not in (None, "")}}
        return path + ("?" + urlencode(pairs) if pairs else "")

    def local(self, at: datetime | None) -> str:
        return at.astimezone(self.timezone).strftime("%a %d %b %H:%M") if at else ""

    def money(self, amount_minor: int) -> str:
        return money(amount_minor, self.currency)


def scope_for(ctx: Ctx, merchant_id: str | None) -> Scope | None:
    """The page's merchant, or None when a network admin has not picked one yet."""
    principal = ctx.principal
    if not principal.is_network_admin:
        if merchant_id and merchant_id != principal.merchant_id:
            raise NotFound(f"No merchant {merchant_id!r}.")
        merchant_id = principal.merchant_id
    with ctx.read() as session:
        merchants = network.list_merchants(session, merchant_id=None) if principal.is_network_admin else []
        if not merchant_id:
            return None if principal.is_network_admin else _no_merchant()
        merchant = network.get_merchant(session, merchant_id=merchant_id)
        locations = network.list_locations(session, merchant_id=merchant_id)
        zone = ZoneInfo(locations[0].timezone if locations else DEFAULT_TIMEZONE)
        return Scope(ctx=ctx, merchant_id=merchant.id, merchant_name=merchant.name, currency=merchant.currency,
                     timezone=zone, merchants=[(m.id, m.name) for m in merchants])


def _no_merchant() -> None:
    raise NotFound("Your account belongs to no merchant.")


def show(request: Request, scope: Scope, template: str, nav: str, context: dict[str, Any] | None = None,
         *, status: int = 200) -> HTMLResponse:
    """Render a dashboard page with the shell's context (nav, merchant, money formatting)."""
    base = {"scope": scope, "console_nav": nav, "money": scope.money,
            "amount": lambda minor: amount_text(minor, scope.currency)}
    return render(request, template, {**base, **(context or {})}, ctx=scope.ctx, status=status)


def pick_merchant(request: Request, ctx: Ctx, nav: str) -> HTMLResponse:
    """The network admin's first step: which merchant's dashboard to open."""
    with ctx.read() as session:  # rendered inside: the rows expire when the read ends
        merchants = network.list_merchants(session, merchant_id=None)
        return render(request, "console/pick_merchant.html", {"merchants": merchants, "console_nav": nav,
                                                              "scope": None, "path": request.url.path}, ctx=ctx)
