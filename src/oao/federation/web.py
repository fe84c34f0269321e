"""Root-level federation routes: the well-known discovery document (same as
/api/v1/federation/identity), and the shopper's "log in with <partner instance>"
round trip of member recognition (federation/login.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oao.core.errors import Problem
from oao.deps import app_state
from oao.federation import login
from oao.federation.api import identity
from oao.members import external_login
from oao.members import service as members
from oao.members.web import set_session_cookie
from oao.web.pages import templates

router = APIRouter(tags=["federation"])
router.add_api_route("/.well-known/oao-federation", identity, methods=["GET"],
                     summary="This instance's federation key and endpoints (public)")

NEXT_COOKIE = "oao_fed_next"


def _error(request: Request, title: str, detail: str, status: int) -> HTMLResponse:
    return templates.TemplateResponse(request, "members/error.html", {"openapi_url": "/api/openapi.json",
                                                                      "title": title, "detail": detail},
                                      status_code=status)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/members/me"


@router.get("/federation/login/{link_id}", include_in_schema=False)
def federated_login_start(link_id: str, request: Request, next: str | None = None) -> Response:
    """Send the shopper to the partner instance's login (the link's OIDC provider), with PKCE."""
    db, clock, settings = app_state(request)
    try:
        with db.read() as session:
            config = login.provider_config(session, link_id=link_id, settings=settings)
        meta = external_login.provider_metadata(config)  # HTTP outside any transaction
        start = external_login.start(config, meta)
    except Problem as exc:
        return _error(request, "Login with the partner unavailable", exc.detail, exc.status)
    with db.unit_of_work() as session:
        members.save_login_state(session, state=start.state, nonce=start.nonce, code_verifier=start.code_verifier,
                                 link_member_id=None, now=clock.now())
    response = RedirectResponse(start.url, status_code=302)
    if next and _safe_next(next) == next:
        response.set_cookie(NEXT_COOKIE, next, max_age=members.LOGIN_STATE_MINUTES * 60, httponly=True,
                            samesite="lax", path="/federation/login")
    return response


@router.get("/federation/login/{link_id}/callback", include_in_schema=False)
def federated_login_callback(link_id: str, request: Request, state: str = "", code: str = "",
                             error: str = "") -> Response:
    """The partner's provider sent the shopper back: check the code and the ID token, find or create our
    member for (partner issuer, pairwise sub), start a session."""
    db, clock, settings = app_state(request)
    if error or not code or not state or len(state) > 200 or len(code) > 500:
        detail = f"The partner answered {error[:100]!r}." if error else "The login answer is incomplete."
        return _error(request, "Login cancelled", detail, 400)
    try:
        with db.unit_of_work() as session:
            attempt = members.claim_login_state(session, state=state, now=clock.now())
            verifier, nonce = attempt.code_verifier, attempt.nonce
            config = login.provider_config(session, link_id=link_id, settings=settings)
        meta = external_login.provider_metadata(config)
        found: Any = external_login.finish(config, meta, code=code, code_verifier=verifier, nonce=nonce,
                                           now=clock.now())
        with db.unit_of_work() as session:
            member, _ = members.log_in_external(
                session, issuer=found.issuer, subject=found.subject, email=found.email,
                email_verified=found.email_verified, name=found.name, link_member_id=None, now=clock.now())
            token, _ = members.start_session(session, member_id=member.id, now=clock.now())
    except Problem as exc:
        return _error(request, "Login failed", exc.detail, exc.status)
    response = RedirectResponse(_safe_next(request.cookies.get(NEXT_COOKIE)), status_code=303)
    response.delete_cookie(NEXT_COOKIE, path="/federation/login")
    set_session_cookie(request, response, token)
    return response
