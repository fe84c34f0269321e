"""RFC 9457 problem+json errors with stable `type` URIs and human messages.

Services raise `Problem` subclasses; core.http turns them (and FastAPI's own
validation errors) into `application/problem+json`. A 500 is always a bug.
This module imports no web framework so services stay free of one.
"""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": f"/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            out["instance"] = instance
        if self.errors:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


class BadRequest(Problem):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class InsufficientStock(Conflict):
    slug, title = "insufficient-stock", "Not enough stock"


class InvalidState(Conflict):
    slug, title = "invalid-state", "Not possible in the current state"


class InvalidInput(Problem):
    status, slug, title = 422, "invalid-input", "Invalid input"


class IdempotencyKeyReused(Problem):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused with a different request"


class Gone(Problem):
    status, slug, title = 410, "expired", "No longer valid"
