"""What the shopper, store and merchant pages share.

- Staff log in once (`/staff/login`) and carry their staff session token in an
  HttpOnly, SameSite=Lax cookie. Page routes get the same `Ctx` as the JSON API
  (`StaffPageDep`), so every permission check stays in the services.
- Every state-changing staff form or fetch carries a CSRF token bound to the
  session (`csrf_field`, header `X-CSRF-Token`): the cookie alone is not enough.
- The storefront acts for the network (`STOREFRONT`): it may quote and place
  orders with any seller, and shows a shopper only what her own signed links
  (`sign`/`unsign`) or her member session open.
- `render` adds what every template needs (audience, staff, csrf, version).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from oao.core.auth import Principal, Role, token_hash
from oao.core.errors import Forbidden, Unauthorized
from oao.deps import Ctx, RequestScope, app_state
from oao.network import service as network_service
from oao.web.pages import templates

STAFF_COOKIE = "oao_staff"
CSRF_HEADER = "X-CSRF-Token"

# The network's own storefront: a network-wide principal that only server code holds.
STOREFRONT = Principal(kind="storefront", id="storefront", name="OAO storefront", role=Role.NETWORK_ADMIN,
                       merchant_id=None)


class LoginRequired(Exception):
    """Raised by page dependencies; `pages.mount` turns it into a redirect to the login page."""

    def __init__(self, login_url: str) -> None:
        super().__init__(login_url)
        self.login_url = login_url


# --- scopes ----------------------------------------------------------------------------------

def request_scope(request: Request) -> RequestScope:
    db, clock, settings = app_state(request)
    return RequestScope(db=db, clock=clock, settings=settings)


def shop_ctx(request: Request) -> Ctx:
    """The storefront's context: acts for the network, never for a particular shopper."""
    db, clock, settings = app_state(request)
    return Ctx(principal=STOREFRONT, db=db, clock=clock, settings=settings)


def staff_token(request: Request) -> str | None:
    return request.cookies.get(STAFF_COOKIE) or None


def staff_ctx(request: Request) -> Ctx | None:
    """The logged-in staff member's context, or None without a valid staff cookie."""
    token = staff_token(request)
    if not token:
        return None
    db, clock, settings = app_state(request)
    try:
        with db.read() as session:
            principal = network_service.authenticate(session, token=token, now=clock.now())
    except Unauthorized:
        return None
    if principal.kind != "staff":
        return None
    return Ctx(principal=principal, db=db, clock=clock, settings=settings)


def login_url_for(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/staff/login?next={quote(target, safe='')}"


def require_staff(request: Request) -> Ctx:
    ctx = staff_ctx(request)
    if ctx is None:
        raise LoginRequired(login_url_for(request))
    return ctx


def require_merchant_admin(request: Request) -> Ctx:
    ctx = require_staff(request)
    if ctx.principal.role is Role.STORE_STAFF:
        raise Forbidden("The merchant dashboard is for merchant admins; store staff use the store console.")
    return ctx


StaffPageDep = Annotated[Ctx, Depends(require_staff)]
AdminPageDep = Annotated[Ctx, Depends(require_merchant_admin)]
ShopDep = Annotated[Ctx, Depends(shop_ctx)]


# --- CSRF and signed values --------------------------------------------------------------------

def _mac(request: Request, message: str) -> str:
    _, _, settings = app_state(request)
    return hmac.new(settings.secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser's staff session ('' without one)."""
    token = staff_token(request)
    return _mac(request, f"staff-csrf:{token_hash(token)}") if token else ""


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a state change whose form field or X-CSRF-Token header does not match the session."""
    expected = csrf_token(request)
    given = submitted or request.headers.get(CSRF_HEADER, "")
    if not expected or not hmac.compare_digest(expected, given):
        raise Forbidden("This form has expired or came from another site; reload the page and try again.")


def sign(request: Request, purpose: str, value: str) -> str:
    """A short unforgeable tag for `value` (e.g. an order id in a shopper's link)."""
    digest = bytes.fromhex(_mac(request, f"{purpose}:{value}"))[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_ok(request: Request, purpose: str, value: str, tag: str | None) -> bool:
    return bool(tag) and hmac.compare_digest(sign(request, purpose, value), tag or "")


# --- rendering ----------------------------------------------------------------------------------

def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
           ctx: Ctx | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render a page or fragment with what every template may use."""
    base: dict[str, Any] = {"openapi_url": "/api/openapi.json", "csrf": csrf_token(request) if ctx else "",
                            "staff": ctx.principal if ctx else None, "htmx": is_htmx(request)}
    return templates.TemplateResponse(request, template, {**base, **(context or {})}, status_code=status,
                                      headers=headers)


# --- the shopper --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shopper:
    """The member logged in on this browser (the members' session cookie, shared with /members)."""

    member_id: str
    name: str
    session_token: str


def current_shopper(request: Request) -> Shopper | None:
    from oao.members.models import Member
    from oao.members.web import cookie_member

    found = cookie_member(request)
    if found is None:
        return None
    member_id, token = found
    db, _, _ = app_state(request)
    with db.read() as session:
        member = session.get(Member, member_id)
        name = member.name if member is not None else ""
    return Shopper(member_id=member_id, name=name or "Member", session_token=token)
