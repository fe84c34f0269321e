"""Per-request wiring shared by every domain's router: who is calling, the
database, the clock, and the idempotent-POST helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from oao.config import Settings
from oao.core.auth import Principal
from oao.core.clock import Clock
from oao.core.db import Database
from oao.core.errors import InvalidInput, Unauthorized
from oao.core.idempotency import request_fingerprint, run_idempotent
from oao.network import service as network_service


@dataclass
class RequestScope:
    """What every request works with: the database, the clock and the settings."""

    db: Database
    clock: Clock
    settings: Settings

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with self.db.unit_of_work() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.db.read() as session:
            yield session


@dataclass
class Ctx(RequestScope):
    """A request by staff or an API key: who is calling, on top of the request scope."""

    principal: Principal = field(kw_only=True)

    def merchant_asked(self, merchant_id: str | None) -> str:
        """The merchant a request is about: the caller's own by default (another's is a 404);
        network admins act for no merchant by default, so they must name one."""
        if merchant_id is None:
            if self.principal.merchant_id is None:
                raise InvalidInput("Name the merchant: `merchant_id`.")
            merchant_id = self.principal.merchant_id
        self.principal.ensure_merchant(merchant_id, "merchant", merchant_id)
        return merchant_id


def app_state(request: Request) -> tuple[Database, Clock, Settings]:
    state = request.app.state
    return state.db, state.clock, state.settings


def get_ctx(request: Request, authorization: Annotated[str | None, Header()] = None) -> Ctx:
    db, clock, settings = app_state(request)
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("Send `Authorization: Bearer <API key or session token>`.")
    token = authorization.split(" ", 1)[1].strip()
    with db.read() as session:
        principal = network_service.authenticate(session, token=token, now=clock.now())
    return Ctx(principal=principal, db=db, clock=clock, settings=settings)


CtxDep = Annotated[Ctx, Depends(get_ctx)]

# Documents in OpenAPI that failures come as problem+json; every router declares it.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": None, "content": {"application/problem+json": {}}, "description": text}
    for code, text in ((400, "Malformed request"), (401, "Not authenticated"), (403, "Not allowed"),
                       (404, "Not found"), (409, "Conflict with the current state"), (410, "Expired"),
                       (422, "Invalid input"))}
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Makes a retry safe: a replay returns the first response."),
]


def idempotent(ctx: Ctx, request: Request, key: str | None, body: BaseModel | None, status_code: int,
               action: Callable[[Session], BaseModel]) -> JSONResponse:
    """Run a create/move action once per Idempotency-Key and return its (replayed) response."""
    payload: Any = body.model_dump(mode="json") if body is not None else None
    fingerprint = request_fingerprint(request.method, request.url.path, payload)

    def run(session: Session) -> tuple[int, dict[str, Any]]:
        result = action(session)
        return status_code, result.model_dump(mode="json")

    status, response = run_idempotent(ctx.db, scope=f"{ctx.principal.kind}:{ctx.principal.id}", key=key,
                                      fingerprint=fingerprint, at=ctx.now(), action=run)
    return JSONResponse(response, status_code=status)
