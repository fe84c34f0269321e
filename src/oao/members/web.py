"""Member pages and the OpenID Connect endpoints (provider and external-login client).

The provider endpoints (`/.well-known/openid-configuration`, `/oidc/...`) adapt
Starlette requests to `oidc_provider.HttpIn` and Authlib's (status, body,
headers) answers back to responses. Shoppers' browser sessions are the same
member sessions as the API's, kept in an HttpOnly, SameSite=Lax cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from oao.core.auth import token_hash
from oao.core.errors import Problem, Unauthorized
from oao.deps import app_state
from oao.members import codes, external_login, oidc_provider, service
from oao.members.api import MEMBER_TOKEN_PREFIX, member_from_token
from oao.members.consents import DESCRIPTIONS, classes_for_scope
from oao.members.models import Member
from oao.web.pages import templates

router = APIRouter(include_in_schema=False)
COOKIE = "oao_member"
# Where to land after the external provider's round trip (the storefront sends /shop/me).
NEXT_COOKIE = "oao_member_next"


# --- helpers -------------------------------------------------------------------------------

def cookie_member(request: Request) -> tuple[str, str] | None:
    """(member id, session token) of the browser's member session, if any and valid."""
    token = request.cookies.get(COOKIE)
    if not token or not token.startswith(MEMBER_TOKEN_PREFIX):
        return None
    db, clock, _ = app_state(request)
    try:
        return member_from_token(db, clock, token), token
    except Unauthorized:
        return None


def _csrf(request: Request, token: str) -> str:
    _, _, settings = app_state(request)
    return hmac.new(settings.secret_key.encode(), f"csrf:{token_hash(token)}".encode(), hashlib.sha256).hexdigest()


def member_csrf(request: Request, token: str) -> str:
    """The CSRF token bound to this member session (for the storefront's member forms)."""
    return _csrf(request, token)


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    _, _, settings = app_state(request)
    response.set_cookie(COOKIE, token, max_age=service.SESSION_DAYS * 86400, httponly=True, samesite="lax",
                        secure=settings.public_url.startswith("https://"), path="/")


set_session_cookie = _set_session_cookie  # the storefront's log-in and sign-up share the /members session


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def _safe_next(target: str | None) -> str:
    # Only same-site paths, so the login page cannot be used as an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/members/me"


def _authlib_response(result: tuple[int, Any, dict[str, str]]) -> Response:
    status, body, headers = result
    if status in (301, 302, 303, 307) and "Location" in headers:
        return RedirectResponse(headers["Location"], status_code=302)
    return JSONResponse(body if isinstance(body, dict) else {}, status_code=status, headers=headers)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, f"members/{name}", {"openapi_url": "/api/openapi.json", **context},
                                      status_code=status)


# --- OpenID Connect provider ---------------------------------------------------------------

@router.get("/.well-known/openid-configuration")
def openid_configuration(request: Request) -> JSONResponse:
    _, _, settings = app_state(request)
    return JSONResponse(oidc_provider.discovery(settings))


@router.get("/oidc/jwks")
def jwks(request: Request) -> JSONResponse:
    db, clock, _ = app_state(request)
    with db.read() as session:
        keys = oidc_provider.jwks(session)
    if keys is None:
        with db.unit_of_work() as session:
            oidc_provider.create_signing_key(session, now=clock.now())
        with db.read() as session:
            keys = oidc_provider.jwks(session)
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


def _authorize_http(request: Request, query: list[tuple[str, str]]) -> oidc_provider.HttpIn:
    _, _, settings = app_state(request)
    url = settings.public_url.rstrip("/") + "/oidc/authorize?" + urlencode(query)
    return oidc_provider.HttpIn(method="GET", url=url, headers=dict(request.headers), query=query)


def _consent_page(request: Request, provider: oidc_provider.Provider, grant: Any, query: list[tuple[str, str]],
                  member: tuple[str, str] | None, error: str | None = None, status: int = 200) -> HTMLResponse:
    client = provider.current_client
    assert client is not None
    found = oidc_provider.client_for_page(provider.session, client_id=client.get_client_id())
    merchant_name = found[1] if found else client.row.name
    # A partner-scoped client (federation) is told only the pairwise `sub`: there is nothing to consent to.
    requested = classes_for_scope(grant.request.scope or "") if client.row.pairwise_scope is None else []
    shared: set[str] = set()
    if member is not None:
        shared = service.consented_classes(provider.session, member_id=member[0], merchant_id=client.row.merchant_id,
                                           now=provider.now)
    return _page(request, "authorize.html", {
        "client_name": client.row.name, "merchant_name": merchant_name, "query": urlencode(query),
        # Nothing is pre-ticked: only what the member already shares with this merchant.
        "requested": [(c, DESCRIPTIONS[c], c in shared) for c in requested],
        "logged_in": member is not None, "csrf": _csrf(request, member[1]) if member else "", "error": error,
    }, status)


def _error_page(request: Request, provider: oidc_provider.Provider, error: OAuth2Error) -> Response:
    status, body, headers = provider.handle_error_response(None, error)
    if "Location" in headers:
        return RedirectResponse(headers["Location"], status_code=302)
    return _page(request, "error.html", {"title": "This login request cannot be served",
                                         "detail": body.get("error_description") or body.get("error")}, 400)


@router.get("/oidc/authorize", response_class=HTMLResponse)
def authorize_page(request: Request) -> Response:
    """The member logs in (if needed) and chooses what the merchant's system may see."""
    db, clock, settings = app_state(request)
    query = list(request.query_params.multi_items())
    member = cookie_member(request)
    with db.read() as session:
        provider = oidc_provider.Provider(session, now=clock.now(), settings=settings)
        user = session.get(Member, member[0]) if member else None
        try:
            grant = provider.get_consent_grant(_authorize_http(request, query), end_user=user)
        except OAuth2Error as error:
            return _error_page(request, provider, error)
        return _consent_page(request, provider, grant, query, member)


@router.post("/oidc/authorize", response_class=HTMLResponse)
def authorize_decision(request: Request, query: Annotated[str, Form(max_length=4000)],
                       decision: Annotated[str, Form(max_length=10)] = "deny",
                       data_class: Annotated[list[str] | None, Form()] = None,
                       login: Annotated[str, Form(max_length=254)] = "",
                       password: Annotated[str, Form(max_length=200)] = "",
                       csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    db, clock, settings = app_state(request)
    pairs = parse_qsl(query, keep_blank_values=True)
    member = cookie_member(request)
    new_login = False
    if member is None or login:
        with db.read() as session:
            try:
                member_id = service.check_credentials(session, login=login, password=password).id
            except Unauthorized:
                member_id = None
            if member_id is None:
                provider = oidc_provider.Provider(session, now=clock.now(), settings=settings)
                try:
                    grant = provider.get_consent_grant(_authorize_http(request, pairs), end_user=None)
                except OAuth2Error as error:
                    return _error_page(request, provider, error)
                return _consent_page(request, provider, grant, pairs, None, "Wrong email/phone or password.", 401)
        member, new_login = (member_id, ""), True
    elif not hmac.compare_digest(csrf, _csrf(request, member[1])):
        return _page(request, "error.html", {"title": "Please try again",
                                             "detail": "This form expired; reload the login page."}, 400)
    with db.unit_of_work() as session:
        now = clock.now()
        provider = oidc_provider.Provider(session, now=now, settings=settings)
        user = session.get(Member, member[0])
        try:
            grant = provider.get_consent_grant(_authorize_http(request, pairs), end_user=user)
        except OAuth2Error as error:
            return _error_page(request, provider, error)
        client_row = provider.current_client.row if provider.current_client is not None else None
        # A partner-scoped client (federation) gets no profile: its login never changes the merchant's consents.
        if decision == "allow" and client_row is not None and client_row.pairwise_scope is None:
            merchant_id = client_row.merchant_id
            requested = classes_for_scope(grant.request.scope or "")
            chosen = [c for c in requested if c in (data_class or [])]
            if chosen:
                service.grant_consents(session, member_id=member[0], merchant_id=merchant_id, data_classes=chosen,
                                       now=now, source="oidc")
            if dropped := [c for c in requested if c not in chosen]:
                service.withdraw_consents(session, member_id=member[0], merchant_id=merchant_id,
                                          data_classes=dropped, now=now, source="oidc")
        result = provider.create_authorization_response(grant.request, grant_user=user if decision == "allow"
                                                        else None, grant=grant)
        token = service.start_session(session, member_id=member[0], now=now)[0] if new_login else None
    response = _authlib_response(result)
    if token:
        _set_session_cookie(request, response, token)
    return response


def _token_http(request: Request, form: Any) -> oidc_provider.HttpIn:
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return oidc_provider.HttpIn(method="POST", url=str(request.url), headers=dict(request.headers), form=pairs)


def _run_provider(request: Request, http: oidc_provider.HttpIn, action: str) -> tuple[int, Any, dict[str, str]]:
    db, clock, settings = app_state(request)
    with db.unit_of_work() as session:
        provider = oidc_provider.Provider(session, now=clock.now(), settings=settings)
        if action == "token":
            return provider.create_token_response(http)
        return provider.create_endpoint_response("revocation", http)


@router.post("/oidc/token")
async def token(request: Request) -> Response:
    form = await request.form()
    result = await run_in_threadpool(_run_provider, request, _token_http(request, form), "token")
    return _authlib_response(result)


@router.post("/oidc/revoke")
async def revoke(request: Request) -> Response:
    form = await request.form()
    result = await run_in_threadpool(_run_provider, request, _token_http(request, form), "revoke")
    return _authlib_response(result)


@router.api_route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo(request: Request) -> JSONResponse:
    db, clock, _ = app_state(request)
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer ") or len(auth) > 300:
        raise Unauthorized("Send the access token as `Authorization: Bearer …`.")
    with db.read() as session:
        claims = oidc_provider.userinfo(session, access_token=auth.split(" ", 1)[1].strip(), now=clock.now())
    return JSONResponse(claims, headers={"Cache-Control": "no-store"})


# --- member pages ------------------------------------------------------------------------

@router.get("/members/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    _, _, settings = app_state(request)
    return _page(request, "login.html", {"next": _safe_next(next), "error": None,
                                         "external": external_login.enabled(settings),
                                         "external_name": settings.external_oidc_name})


@router.post("/members/login", response_class=HTMLResponse)
def login_submit(request: Request, login: Annotated[str, Form(max_length=254)],
                 password: Annotated[str, Form(max_length=200)], next: Annotated[str, Form(max_length=500)] = "",
                 ) -> Response:
    db, clock, settings = app_state(request)
    try:
        with db.unit_of_work() as session:
            token, _, _ = service.log_in(session, login=login, password=password, now=clock.now())
    except Unauthorized as exc:
        return _page(request, "login.html", {"next": _safe_next(next), "error": exc.detail,
                                             "external": external_login.enabled(settings),
                                             "external_name": settings.external_oidc_name}, 401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_session_cookie(request, response, token)
    return response


@router.post("/members/logout")
def logout(request: Request) -> Response:
    db, clock, _ = app_state(request)
    if member := cookie_member(request):
        with db.unit_of_work() as session:
            service.log_out(session, token=member[1], now=clock.now())
    response = RedirectResponse("/members/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/members/me", response_class=HTMLResponse)
def member_page(request: Request) -> Response:
    """The shopper's card: a fresh member code as QR and barcode, rotating before it expires."""
    db, clock, settings = app_state(request)
    member = cookie_member(request)
    if member is None:
        return RedirectResponse("/members/login?next=/members/me", status_code=303)
    with db.unit_of_work() as session:
        issued = service.issue_member_code(session, member_id=member[0], now=clock.now(), settings=settings)
        person = service.get_member(session, member_id=member[0])
        consents = service.list_consents(session, member_id=member[0], now=clock.now())
        name = person.name or person.email or person.phone or "member"
    return _page(request, "me.html", {
        "name": name, "code": issued.code, "expires_at": issued.expires_at,
        "refresh_seconds": max(settings.member_code_seconds - 5, 5),
        "qr_svg": codes.qr_image(issued.code, "svg").decode(), "barcode_svg": codes.barcode_image(issued.code, "svg")
        .decode(), "consents": consents, "external": external_login.enabled(settings),
        "external_name": settings.external_oidc_name})


# --- external OpenID Connect login ---------------------------------------------------------

@router.get("/members/login/external")
def external_start(request: Request, link: bool = False, next: str | None = None) -> Response:
    """Send the shopper to the external provider; `?link=1` links it to the logged-in member;
    `next` (a same-site path) is where the shopper lands afterwards (default /members/me)."""
    db, clock, settings = app_state(request)
    if not external_login.enabled(settings):
        return _page(request, "error.html", {"title": "Not available",
                                             "detail": "No external login provider is configured."}, 404)
    link_member = cookie_member(request) if link else None
    if link and link_member is None:
        return RedirectResponse("/members/login?next=/members/me", status_code=303)
    try:
        meta = external_login.provider_metadata(settings)  # HTTP before any transaction
        start = external_login.start(settings, meta)
    except Problem as exc:
        return _page(request, "error.html", {"title": "Login provider unavailable", "detail": exc.detail}, 502)
    with db.unit_of_work() as session:
        service.save_login_state(session, state=start.state, nonce=start.nonce, code_verifier=start.code_verifier,
                                 link_member_id=link_member[0] if link_member else None, now=clock.now())
    response = RedirectResponse(start.url, status_code=302)
    if next and _safe_next(next) == next:
        response.set_cookie(NEXT_COOKIE, next, max_age=LOGIN_ROUND_TRIP_SECONDS, httponly=True, samesite="lax",
                            path="/members/login/external")
    return response


LOGIN_ROUND_TRIP_SECONDS = service.LOGIN_STATE_MINUTES * 60


@router.get("/members/login/external/callback")
def external_callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    db, clock, settings = app_state(request)
    if not external_login.enabled(settings):
        return _page(request, "error.html", {"title": "Not available",
                                             "detail": "No external login provider is configured."}, 404)
    if error or not code or not state or len(state) > 200 or len(code) > 500:
        detail = f"The login provider answered {error[:100]!r}." if error else "The login answer is incomplete."
        return _page(request, "error.html", {"title": "Login cancelled", "detail": detail}, 400)
    try:
        with db.unit_of_work() as session:
            attempt = service.claim_login_state(session, state=state, now=clock.now())
            verifier, nonce, link_member_id = attempt.code_verifier, attempt.nonce, attempt.link_member_id
        meta = external_login.provider_metadata(settings)  # HTTP only between transactions
        identity = external_login.finish(settings, meta, code=code, code_verifier=verifier, nonce=nonce,
                                         now=clock.now())
        with db.unit_of_work() as session:
            member, _ = service.log_in_external(
                session, issuer=identity.issuer, subject=identity.subject, email=identity.email,
                email_verified=identity.email_verified, name=identity.name, link_member_id=link_member_id,
                now=clock.now())
            token, _ = service.start_session(session, member_id=member.id, now=clock.now())
    except Problem as exc:
        return _page(request, "error.html", {"title": "Login failed", "detail": exc.detail}, exc.status)
    response = RedirectResponse(_safe_next(request.cookies.get(NEXT_COOKIE)), status_code=303)
    response.delete_cookie(NEXT_COOKIE, path="/members/login/external")
    _set_session_cookie(request, response, token)
    return response
