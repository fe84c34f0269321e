"""What a kiosk remembers between two taps: its register, the shopper's visit, her basket.

A kiosk is one browser at one register, so its state lives in two cookies of
that browser, signed with the app's secret so a shopper cannot edit her
basket or pretend to be someone else's member ref:

- `oao_kiosk_register`: the register staff chose when they opened the kiosk
  (kept for days; "Exit kiosk mode" clears it);
- `oao_kiosk_visit`: the current shopper's visit (member ref and the name she
  shares, basket, the payment under way, the last receipt), cleared when she
  is done or the kiosk goes idle.

`load_kiosk` turns the register cookie back into the register and its store,
re-checked against the staff login on every request (a register moved to
another store, or a staff login of another store, stops the kiosk).

Plain forms that POST and redirect work with these cookies alone; htmx only
swaps fragments. The visit never holds the member's internal id, only the
pairwise ref this merchant was given (the same thing a till would keep).
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import Request, Response

from oao.core.errors import Problem
from oao.deps import Ctx
from oao.network import service as network
from oao.pos import service as pos
from oao.web.common import render, sign, signed_ok
from oao.web.store.kiosk_basket import money

REGISTER_COOKIE = "oao_kiosk_register"
VISIT_COOKIE = "oao_kiosk_visit"
REGISTER_MAX_AGE = 30 * 24 * 3600
VISIT_MAX_AGE = 2 * 3600  # a visit forgotten on a kiosk does not outlive the afternoon
MAX_LINES = 40
MAX_QUANTITY = 20
KIOSK_KINDS = ("kiosk", "self_checkout")
IDLE_SECONDS = 60


@dataclass
class Visit:
    member_ref: str | None = None
    member_name: str | None = None  # only when she shares her name with this merchant
    guest: bool = False
    basket: dict[str, int] = field(default_factory=dict)  # GTIN -> quantity, in the order added
    checkout: dict[str, Any] | None = None  # the wallet payment / points hold under way
    done: dict[str, Any] | None = None  # the last receipt, for the thank-you screen
    partner: dict[str, Any] | None = None  # the partner order under way
    skin_type: str | None = None  # the kiosk's skin scan during this visit (suggestions only; gone at reset)

    @property
    def started(self) -> bool:
        return self.member_ref is not None or self.guest

    @property
    def items(self) -> int:
        return sum(self.basket.values())


def _encode(request: Request, purpose: str, payload: Any) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{body}.{sign(request, purpose, body)}"


def _decode(request: Request, purpose: str, raw: str | None) -> Any:
    if not raw or "." not in raw:
        return None
    body, tag = raw.rsplit(".", 1)
    if not signed_ok(request, purpose, body, tag):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None


def load_visit(request: Request) -> Visit:
    data = _decode(request, "kiosk-visit", request.cookies.get(VISIT_COOKIE))
    if not isinstance(data, dict):
        return Visit()
    try:
        visit = Visit(**data)
    except TypeError:
        return Visit()
    visit.basket = {str(k): int(v) for k, v in (visit.basket or {}).items()}
    return visit


def save_visit(request: Request, response: Response, visit: Visit) -> Response:
    secure = request.url.scheme == "https"
    response.set_cookie(VISIT_COOKIE, _encode(request, "kiosk-visit", asdict(visit)), max_age=VISIT_MAX_AGE,
                        httponly=True, samesite="lax", path="/store/kiosk", secure=secure)
    return response


def clear_visit(response: Response) -> Response:
    response.delete_cookie(VISIT_COOKIE, path="/store/kiosk")
    return response


def load_register_id(request: Request) -> str | None:
    value = _decode(request, "kiosk-register", request.cookies.get(REGISTER_COOKIE))
    return value if isinstance(value, str) else None


def save_register_id(request: Request, response: Response, register_id: str) -> Response:
    response.set_cookie(REGISTER_COOKIE, _encode(request, "kiosk-register", register_id),
                        max_age=REGISTER_MAX_AGE, httponly=True, samesite="lax", path="/store/kiosk",
                        secure=request.url.scheme == "https")
    return response


def clear_register(response: Response) -> Response:
    response.delete_cookie(REGISTER_COOKIE, path="/store/kiosk")
    return response


# --- the register this screen runs as ----------------------------------------------------------

@dataclass(frozen=True)
class Kiosk:
    """The register this kiosk runs as, and its store."""

    register_id: str
    register_name: str
    register_kind: str
    location_id: str
    store_name: str
    timezone: str
    merchant_id: str
    currency: str


def load_kiosk(request: Request, ctx: Ctx) -> Kiosk | None:
    """The register chosen on this browser, if it is still one this staff login may run as a kiosk."""
    register_id = load_register_id(request)
    if register_id is None:
        return None
    with ctx.read() as session:
        try:
            register = pos.get_register(session, principal=ctx.principal, register_id=register_id)
        except Problem:
            return None
        if register.kind not in KIOSK_KINDS:
            return None
        if ctx.principal.location_id is not None and register.location_id != ctx.principal.location_id:
            return None
        location = network.get_location(session, location_id=register.location_id)
        merchant = network.get_merchant(session, merchant_id=register.merchant_id)
        return Kiosk(register_id=register.id, register_name=register.name, register_kind=register.kind,
                     location_id=location.id, store_name=location.name, timezone=location.timezone,
                     merchant_id=register.merchant_id, currency=merchant.currency)


def kiosk_page(request: Request, ctx: Ctx, template: str, kiosk: Kiosk | None, context: dict[str, Any], *,
               status: int = 200, idle: int | None = IDLE_SECONDS) -> Response:
    """Render a kiosk page: full screen, reset by kiosk.js after `idle` seconds without a touch (None: never)."""
    return render(request, template, {"kiosk": kiosk, "idle_seconds": idle, "money": money, **context},
                  status=status, ctx=ctx)
