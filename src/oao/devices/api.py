"""HTTP routes of the devices domain.

The member manages her devices and their reorder rules under /me/devices with her member session
(`Authorization: Bearer oao_ms_…`). A device reports with its own credential:
`Authorization: Bearer oao_dv_…` (shown once when it was registered; only its hash is kept).

POST /devices/readings and /devices/press are idempotent by the device's `event_id` (no
Idempotency-Key needed): the first report answers 201 with its outcome, a resend answers 200 with
that same outcome and never orders again, and the same event id with a different body is a 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from oao.core.errors import Problem, Unauthorized
from oao.deps import PROBLEM_RESPONSES, IdempotencyKey, RequestScope, app_state
from oao.devices import service
from oao.devices.models import Device, ReorderRule
from oao.devices.schemas import (
    DeviceCreated,
    DeviceEventOut,
    DeviceIn,
    DeviceOut,
    DevicePatch,
    PressIn,
    ReadingIn,
    RuleIn,
    RuleOut,
    RulePatch,
)
from oao.members.api import MemberCtxDep, member_idempotent

router = APIRouter(tags=["devices"], responses=PROBLEM_RESPONSES)
REPORT_ATTEMPTS = 3


def rule_out(session: Session, rule: ReorderRule) -> RuleOut:
    title = service.product_titles(session, product_ids=[rule.product_id]).get(rule.product_id, "")
    return RuleOut.model_validate(rule).model_copy(update={"product_title": title})


# --- the member's devices --------------------------------------------------------------------------

@router.post("/me/devices", response_model=DeviceCreated, status_code=201,
             summary="Register a device; its credential is in this answer only")
def register_device(body: DeviceIn, mctx: MemberCtxDep, request: Request,
                    idempotency_key: IdempotencyKey = None) -> JSONResponse:
    credential: str | None = None

    def run(session: Session) -> DeviceCreated:
        nonlocal credential
        device, credential = service.register_device(
            session, member_id=mctx.member_id, name=body.name, kind=body.kind, merchant_id=body.merchant_id,
            unit=body.unit, now=mctx.now())
        # The stored (replayable) answer never holds the secret: only the hash is kept anywhere.
        return DeviceCreated(**DeviceOut.model_validate(device).model_dump(), credential=None)

    response = member_idempotent(mctx, request, idempotency_key, body, 201, run)
    if credential is not None:
        out = DeviceCreated.model_validate_json(response.body).model_copy(update={"credential": credential})
        return JSONResponse(out.model_dump(mode="json"), status_code=201, headers={"Cache-Control": "no-store"})
    return response


@router.get("/me/devices", response_model=list[DeviceOut])
def list_devices(mctx: MemberCtxDep) -> list[DeviceOut]:
    """Her devices, revoked ones included (they keep their history)."""
    with mctx.read() as session:
        return [DeviceOut.model_validate(d) for d in service.list_devices(session, member_id=mctx.member_id)]


@router.get("/me/devices/{device_id}", response_model=DeviceOut)
def read_device(device_id: str, mctx: MemberCtxDep) -> DeviceOut:
    with mctx.read() as session:
        return DeviceOut.model_validate(service.get_device(session, member_id=mctx.member_id, device_id=device_id))


@router.patch("/me/devices/{device_id}", response_model=DeviceOut)
def rename_device(device_id: str, body: DevicePatch, mctx: MemberCtxDep) -> DeviceOut:
    with mctx.tx() as session:
        return DeviceOut.model_validate(service.rename_device(session, member_id=mctx.member_id, device_id=device_id,
                                                              name=body.name, now=mctx.now()))


@router.delete("/me/devices/{device_id}", response_model=DeviceOut,
               summary="Revoke a device: its credential is refused from now on, its rules are switched off")
def revoke_device(device_id: str, mctx: MemberCtxDep) -> DeviceOut:
    with mctx.tx() as session:
        return DeviceOut.model_validate(service.revoke_device(session, member_id=mctx.member_id, device_id=device_id,
                                                              now=mctx.now()))


@router.get("/me/devices/{device_id}/events", response_model=list[DeviceEventOut])
def device_events(device_id: str, mctx: MemberCtxDep,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[DeviceEventOut]:
    """What the device reported and what came of it (ordered, or why not), newest first."""
    with mctx.read() as session:
        return [DeviceEventOut.model_validate(e) for e in service.list_events(
            session, member_id=mctx.member_id, device_id=device_id, limit=limit)]


# --- reorder rules ---------------------------------------------------------------------------------

@router.get("/me/devices/{device_id}/rules", response_model=list[RuleOut])
def list_rules(device_id: str, mctx: MemberCtxDep) -> list[RuleOut]:
    with mctx.read() as session:
        device = service.get_device(session, member_id=mctx.member_id, device_id=device_id)
        return [rule_out(session, r) for r in service.list_rules(session, device_id=device.id)]


@router.post("/me/devices/{device_id}/rules", response_model=RuleOut, status_code=201)
def add_rule(device_id: str, body: RuleIn, mctx: MemberCtxDep, request: Request,
             idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """What the device may reorder: product, quantity, threshold, monthly cap, how to receive and pay it."""
    return member_idempotent(mctx, request, idempotency_key, body, 201, lambda s: rule_out(s, service.add_rule(
        s, member_id=mctx.member_id, device_id=device_id, values=body.model_dump(), now=mctx.now())))


@router.get("/me/devices/{device_id}/rules/{rule_id}", response_model=RuleOut)
def read_rule(device_id: str, rule_id: str, mctx: MemberCtxDep) -> RuleOut:
    with mctx.read() as session:
        return rule_out(session, service.get_rule(session, member_id=mctx.member_id, device_id=device_id,
                                                  rule_id=rule_id))


@router.patch("/me/devices/{device_id}/rules/{rule_id}", response_model=RuleOut)
def update_rule(device_id: str, rule_id: str, body: RulePatch, mctx: MemberCtxDep) -> RuleOut:
    """Send only what changes; null clears an optional setting (cap, capacity)."""
    with mctx.tx() as session:
        return rule_out(session, service.update_rule(session, member_id=mctx.member_id, device_id=device_id,
                                                     rule_id=rule_id, changes=body.model_dump(exclude_unset=True),
                                                     now=mctx.now()))


@router.delete("/me/devices/{device_id}/rules/{rule_id}", status_code=204)
def delete_rule(device_id: str, rule_id: str, mctx: MemberCtxDep) -> Response:
    with mctx.tx() as session:
        service.delete_rule(session, member_id=mctx.member_id, device_id=device_id, rule_id=rule_id, now=mctx.now())
    return Response(status_code=204)


# --- what devices send -----------------------------------------------------------------------------

def get_device_scope(request: Request, authorization: Annotated[str | None, Header()] = None
                     ) -> tuple[RequestScope, str]:
    """The request scope and the id of the device whose credential was sent (401 otherwise)."""
    db, clock, settings = app_state(request)
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("Send `Authorization: Bearer oao_dv_…` (the device's credential).")
    with db.read() as session:
        device: Device = service.authenticate_device(session, credential=authorization.split(" ", 1)[1].strip())
        device_id = device.id
    return RequestScope(db=db, clock=clock, settings=settings), device_id


DeviceDep = Annotated[tuple[RequestScope, str], Depends(get_device_scope)]


def _report(scope: RequestScope, device_id: str, data: service.ReportIn) -> JSONResponse:
    for _attempt in range(REPORT_ATTEMPTS):
        try:
            with scope.tx() as session:
                event, created = service.report(session, device_id=device_id, data=data, now=scope.now(),
                                                settings=scope.settings)
                out = DeviceEventOut.model_validate(event).model_dump(mode="json")
            return JSONResponse(out, status_code=201 if created else 200)
        except service.ReportRace:
            continue  # the twin committed its outcome: read it in a new transaction
    raise Problem("Could not record this report; send it again with the same event id.")


@router.post("/devices/readings", response_model=DeviceEventOut, status_code=201,
             summary="A device reports a level or a consumption; a reorder rule may place an order")
def post_reading(body: ReadingIn, device: DeviceDep) -> JSONResponse:
    scope, device_id = device
    return _report(scope, device_id, service.ReportIn(kind="reading", event_id=body.event_id, at=body.at,
                                                      level=body.level, consumed=body.consumed, rule_id=body.rule_id))


@router.post("/devices/press", response_model=DeviceEventOut, status_code=201,
             summary="A one-press button: reorder the rule's item now (within the rule's limits)")
def post_press(body: PressIn, device: DeviceDep) -> JSONResponse:
    scope, device_id = device
    return _report(scope, device_id, service.ReportIn(kind="press", event_id=body.event_id, at=body.at,
                                                      rule_id=body.rule_id))

