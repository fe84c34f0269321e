"""HTTP side of errors: every failure leaves as RFC 9457 application/problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from oao.core.errors import BadRequest, InvalidInput, Problem

CONTENTION_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def _is_contention(exc: OperationalError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in CONTENTION_SQLSTATES:
        return True
    return "database is locked" in str(orig)

log = logging.getLogger("oao.errors")
PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return JSONResponse(problem.body(instance), status_code=problem.status,
                        media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_errors(exc: RequestValidationError) -> tuple[bool, list[dict[str, Any]]]:
    malformed = False
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            malformed = True
        loc = ".".join(str(part) for part in err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        errors.append({"field": loc, "message": msg})
    return malformed, errors


def _has_nul(request: Request, body: bytes) -> bool:
    raw_query = request.scope.get("query_string", b"")
    return ("\x00" in request.url.path or b"%00" in raw_query or b"\x00" in body
            or b"\\u0000" in body)


def install_problem_handlers(app: FastAPI) -> None:
    @app.middleware("http")
    async def _refuse_nul_characters(request: Request, call_next: Any) -> Any:
        # PostgreSQL cannot store U+0000 in text; no retail field needs it, so refuse it up front.
        body = await request.body() if request.method in ("POST", "PUT", "PATCH") else b""
        if _has_nul(request, body):
            return problem_response(BadRequest("Text must not contain NUL (U+0000) characters."), request)
        return await call_next(request)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        malformed, errors = _field_errors(exc)
        if malformed:
            return problem_response(BadRequest("The request body is not valid JSON.", errors=errors), request)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
        return problem_response(InvalidInput(f"The request has invalid fields: {summary}", errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"}.get(exc.status_code, "http-error")
        problem = Problem(str(exc.detail))
        problem.status, problem.slug, problem.title = exc.status_code, slug, str(exc.detail)
        return problem_response(problem, request)

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> JSONResponse:
        # Lock waits that ran out (SQLite busy timeout) or a deadlock victim
        # (PostgreSQL): nothing was written, the client may simply retry.
        if not _is_contention(exc):
            return await _unexpected(request, exc)
        log.warning("database contention on %s %s: %s", request.method, request.url.path, exc.orig)
        problem = Problem("The database is busy with other requests; nothing was changed. Retry shortly.")
        problem.status, problem.slug, problem.title = 503, "busy", "Busy, retry"
        response = problem_response(problem, request)
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem("An unexpected error occurred; it has been logged.")
        problem.status, problem.slug, problem.title = 500, "internal-error", "Internal error"
        return problem_response(problem, request)
