"""Staff log in and out in the browser: one login for the store console and the
merchant dashboard. The session is the API's staff session (`oao_st_…`), kept in
an HttpOnly cookie, so revoking it in one place ends both."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oao.core.auth import Role
from oao.core.errors import Unauthorized
from oao.network import service as network_service
from oao.web.common import STAFF_COOKIE, check_csrf, render, request_scope, staff_ctx

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None, default: str) -> str:
    # Same-site paths only, so the login page cannot be used as an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def home_for(role: Role) -> str:
    return "/store" if role is Role.STORE_STAFF else "/console"


@router.get("/staff/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query name
    ctx = staff_ctx(request)
    if ctx is not None:
        return RedirectResponse(_safe_next(next, home_for(ctx.principal.role)), status_code=303)
    return render(request, "staff/login.html", {"next": next or "", "email": "", "error": None})


@router.post("/staff/login", response_class=HTMLResponse)
def log_in(request: Request, email: Annotated[str, Form(max_length=200)] = "",
           password: Annotated[str, Form(max_length=200)] = "",
           next: Annotated[str, Form(max_length=500)] = "") -> Response:  # noqa: A002
    scope = request_scope(request)
    try:
        with scope.tx() as session:
            token, user, expires = network_service.log_in(session, email=email, password=password, now=scope.now())
            role = Role(user.role)
    except Unauthorized:
        return render(request, "staff/login.html",
                      {"next": next, "email": email, "error": "That email and password do not match a staff account."},
                      status=401)
    response = RedirectResponse(_safe_next(next, home_for(role)), status_code=303)
    max_age = int((expires - scope.now()).total_seconds())
    response.set_cookie(STAFF_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", path="/",
                        secure=scope.settings.public_url.startswith("https://"))
    return response


@router.post("/staff/logout")
def log_out(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    if staff_ctx(request) is not None:
        check_csrf(request, csrf)
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(STAFF_COOKIE, path="/")
    return response
