"""HTTP API of members: sign-up and log-in, the member's own profile, consents and member
codes (under /me, with a member session), redeeming member codes at a till or kiosk
(staff or API key), and merchants' OpenID Connect clients.

Members authenticate with `Authorization: Bearer oao_ms_…` (a member session);
merchants never see internal member ids, only their own pairwise `member_ref`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, RootModel
from sqlalchemy.orm import Session

from oao.core.clock import Clock
from oao.core.db import Database
from oao.core.errors import Forbidden, NotFound, Unauthorized
from oao.core.idempotency import request_fingerprint, run_idempotent
from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, RequestScope, app_state, idempotent
from oao.members import codes, oidc_provider, service
from oao.members.schemas import (
    ConsentEventOut,
    ConsentIn,
    ConsentOut,
    ConsentWithdrawIn,
    IdentityOut,
    LoginIn,
    MemberCodeOut,
    MemberOut,
    MemberSessionOut,
    OidcClientCreated,
    OidcClientIn,
    OidcClientOut,
    ProfilePatch,
    RedeemIn,
    RedeemOut,
    SignUpIn,
    WithdrawOut,
)

router = APIRouter(tags=["members"], responses=PROBLEM_RESPONSES)
MEMBER_TOKEN_PREFIX = "oao_ms_"


@dataclass
class MemberCtx(RequestScope):
    """A request made by a logged-in member."""

    member_id: str = field(kw_only=True)
    token: str = field(kw_only=True)


def member_from_token(db: Database, clock: Clock, token: str) -> str:
    """The member id behind a session token (401 otherwise)."""
    if not token.startswith(MEMBER_TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("This needs a member session: `Authorization: Bearer oao_ms_…` from POST "
                           "/api/v1/members/sessions.")
    with db.read() as session:
        return service.authenticate_member(session, token=token, now=clock.now()).id


def get_member_ctx(request: Request, authorization: Annotated[str | None, Header()] = None) -> MemberCtx:
    db, clock, settings = app_state(request)
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("Send `Authorization: Bearer oao_ms_…` (a member session).")
    token = authorization.split(" ", 1)[1].strip()
    return MemberCtx(member_id=member_from_token(db, clock, token), token=token, db=db, clock=clock,
                     settings=settings)


MemberCtxDep = Annotated[MemberCtx, Depends(get_member_ctx)]


def member_idempotent(mctx: MemberCtx, request: Request, key: str | None, body: BaseModel | None, status_code: int,
                      action: Callable[[Session], BaseModel]) -> JSONResponse:
    """`deps.idempotent` for member requests: keys are scoped to the member."""
    payload = body.model_dump(mode="json") if body is not None else None
    fingerprint = request_fingerprint(request.method, request.url.path, payload)

    def run(session: Session) -> tuple[int, dict]:
        return status_code, action(session).model_dump(mode="json")

    status, response = run_idempotent(mctx.db, scope=f"member:{mctx.member_id}", key=key, fingerprint=fingerprint,
                                      at=mctx.now(), action=run)
    return JSONResponse(response, status_code=status)


# --- accounts ------------------------------------------------------------------------------

@router.post("/members", response_model=MemberOut, status_code=201)
def sign_up(body: SignUpIn, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Sign up as a shopper with an email address or phone number and a password."""
    db, clock, _ = app_state(request)
    fingerprint = request_fingerprint("POST", request.url.path, body.model_dump(mode="json"))

    def run(session: Session) -> tuple[int, dict]:
        member = service.sign_up(session, email=body.email, phone=body.phone, password=body.password,
                                 name=body.name, now=clock.now())
        return 201, MemberOut.model_validate(member).model_dump(mode="json")

    status, out = run_idempotent(db, scope="member-sign-up", key=idempotency_key, fingerprint=fingerprint,
                                 at=clock.now(), action=run)
    return JSONResponse(out, status_code=status)


@router.post("/members/sessions", response_model=MemberSessionOut, status_code=201)
def log_in(body: LoginIn, request: Request) -> MemberSessionOut:
    """Log in with email or phone and password; returns a member session token (30 days)."""
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        token, member, expires = service.log_in(session, login=body.login, password=body.password, now=clock.now())
        return MemberSessionOut(token=token, expires_at=expires, member=MemberOut.model_validate(member))


@router.delete("/me/session", status_code=204)
def log_out(mctx: MemberCtxDep) -> Response:
    """End this member session."""
    with mctx.tx() as session:
        service.log_out(session, token=mctx.token, now=mctx.now())
    return Response(status_code=204)


@router.get("/me/profile", response_model=MemberOut)
def get_profile(mctx: MemberCtxDep) -> MemberOut:
    """The member's own account."""
    with mctx.read() as session:
        return MemberOut.model_validate(service.get_member(session, member_id=mctx.member_id))


@router.patch("/me/profile", response_model=MemberOut)
def update_profile(body: ProfilePatch, mctx: MemberCtxDep) -> MemberOut:
    """Change name, birth year, gender, email or phone (send only what changes; null clears)."""
    with mctx.tx() as session:
        return MemberOut.model_validate(service.update_profile(
            session, member_id=mctx.member_id, changes=body.model_dump(exclude_unset=True), now=mctx.now()))


@router.get("/me/identities", response_model=list[IdentityOut])
def list_identities(mctx: MemberCtxDep) -> list[IdentityOut]:
    """External logins linked to this member."""
    with mctx.read() as session:
        return [IdentityOut.model_validate(i) for i in service.list_identities(session, member_id=mctx.member_id)]


# --- consents ------------------------------------------------------------------------------

@router.get("/me/consents", response_model=list[ConsentOut])
def list_consents(mctx: MemberCtxDep) -> list[ConsentOut]:
    """What this member currently shares, per merchant and data class."""
    with mctx.read() as session:
        return [ConsentOut.model_validate(c)
                for c in service.list_consents(session, member_id=mctx.member_id, now=mctx.now())]


@router.post("/me/consents", response_model=list[ConsentOut], status_code=201)
def grant_consents(body: ConsentIn, mctx: MemberCtxDep, request: Request,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Share data classes with a merchant (until `expires_at` if given)."""
    return member_idempotent(mctx, request, idempotency_key, body, 201, lambda s: _ConsentList([
        ConsentOut.model_validate(c) for c in service.grant_consents(
            s, member_id=mctx.member_id, merchant_id=body.merchant_id, data_classes=list(body.data_classes),
            expires_at=body.expires_at, now=mctx.now())]))


@router.post("/me/consents/withdraw", response_model=WithdrawOut)
def withdraw_consents(body: ConsentWithdrawIn, mctx: MemberCtxDep, request: Request,
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Stop sharing data classes with a merchant; the history keeps both steps."""
    return member_idempotent(mctx, request, idempotency_key, body, 200, lambda s: WithdrawOut(
        withdrawn=service.withdraw_consents(s, member_id=mctx.member_id, merchant_id=body.merchant_id,
                                            data_classes=list(body.data_classes), now=mctx.now())))


@router.get("/me/consents/history", response_model=list[ConsentEventOut])
def consent_history(mctx: MemberCtxDep) -> list[ConsentEventOut]:
    """Every grant and withdrawal, oldest first (append-only)."""
    with mctx.read() as session:
        return [ConsentEventOut.model_validate(e) for e in service.consent_history(session, member_id=mctx.member_id)]


# --- member codes --------------------------------------------------------------------------

@router.post("/me/member-codes", response_model=MemberCodeOut, status_code=201)
def issue_member_code(mctx: MemberCtxDep) -> MemberCodeOut:
    """A fresh one-time member code (valid OAO_MEMBER_CODE_SECONDS); each call rotates it."""
    with mctx.tx() as session:
        issued = service.issue_member_code(session, member_id=mctx.member_id, now=mctx.now(), settings=mctx.settings)
    base = f"/api/v1/me/member-codes/{issued.code}"
    return MemberCodeOut(code=issued.code, expires_at=issued.expires_at,
                         valid_seconds=mctx.settings.member_code_seconds, qr_svg_url=f"{base}/qr.svg",
                         qr_png_url=f"{base}/qr.png", barcode_svg_url=f"{base}/barcode.svg",
                         barcode_png_url=f"{base}/barcode.png")


@router.get("/me/member-codes/{code}/{image}", summary="A member code as a QR or Code 128 image",
            responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
def member_code_image(code: str, image: str, mctx: MemberCtxDep) -> Response:
    """`qr.svg`, `qr.png`, `barcode.svg` or `barcode.png` of one of the member's own codes."""
    kind, _, fmt = image.partition(".")
    if kind not in ("qr", "barcode") or fmt not in ("svg", "png"):
        raise NotFound("Member code images are qr.svg, qr.png, barcode.svg or barcode.png.")
    with mctx.read() as session:
        if len(code) > 64 or service.member_code_owner(session, code=code) != mctx.member_id:
            raise NotFound("No such member code of yours.")
    code = codes.normalise(code)
    data = codes.qr_image(code, fmt) if kind == "qr" else codes.barcode_image(code, fmt)
    return Response(data, media_type="image/svg+xml" if fmt == "svg" else "image/png",
                    headers={"Cache-Control": "no-store"})


@router.post("/member-codes/redeem", response_model=RedeemOut)
def redeem_member_code(body: RedeemIn, ctx: CtxDep, request: Request,
                       idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Redeem a shopper's member code at a till or kiosk: her ref at your merchant and only the profile
    fields she shares with you. Expired or used: 410; malformed, tampered or another network's: 422."""
    merchant_id = ctx.principal.merchant_id
    if merchant_id is None:
        raise Forbidden("Member codes are redeemed by a merchant's staff or API key.")

    def run(session: Session) -> RedeemOut:
        redeemed = service.redeem_member_code(session, code=body.code, merchant_id=merchant_id, now=ctx.now(),
                                              settings=ctx.settings)
        return RedeemOut(member_ref=redeemed.member_ref, profile=redeemed.profile)

    return idempotent(ctx, request, idempotency_key, body, 200, run)


# --- OIDC clients --------------------------------------------------------------------------

@router.post("/oidc-clients", response_model=OidcClientCreated, status_code=201)
def register_oidc_client(body: OidcClientIn, ctx: CtxDep, request: Request,
                         idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Register your system as an OpenID Connect client ("log in with the network"); the secret is shown once."""

    def run(session: Session) -> OidcClientCreated:
        client, secret = oidc_provider.register_client(
            session, principal=ctx.principal, merchant_id=body.merchant_id, name=body.name,
            redirect_uris=body.redirect_uris, now=ctx.now(), settings=ctx.settings)
        return OidcClientCreated(**OidcClientOut.model_validate(client).model_dump(), client_secret=secret)

    return idempotent(ctx, request, idempotency_key, body, 201, run)


@router.get("/oidc-clients", response_model=list[OidcClientOut])
def list_oidc_clients(ctx: CtxDep) -> list[OidcClientOut]:
    """Your merchant's OpenID Connect clients (without secrets)."""
    with ctx.read() as session:
        return [OidcClientOut.model_validate(c) for c in oidc_provider.list_clients(session, principal=ctx.principal)]


@router.post("/oidc-clients/{client_id}/revoke", response_model=OidcClientOut)
def revoke_oidc_client(client_id: str, ctx: CtxDep, request: Request,
                       idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Stop a client: no new logins, and its access tokens stop working."""
    return idempotent(ctx, request, idempotency_key, None, 200, lambda s: OidcClientOut.model_validate(
        oidc_provider.revoke_client(s, principal=ctx.principal, client_id=client_id, now=ctx.now())))


class _ConsentList(RootModel[list[ConsentOut]]):
    pass
