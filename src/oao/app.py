"""`create_app(settings)` wires the whole service: routers, errors, worker, docs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module

from fastapi import FastAPI

from oao import __version__
from oao.config import Settings
from oao.core.clock import Clock, SystemClock
from oao.core.db import Database
from oao.core.http import install_problem_handlers

# Each domain exposes `router` in its api module; listed here, mounted under /api/v1.
DOMAIN_APIS = ["network", "catalog", "inventory", "fulfillment", "orders", "pos", "members", "loyalty", "payments",
               "settlement", "sharing", "webhooks", "federation", "insights", "devices"]
# Domains with pages of their own expose `router` in a web module, mounted at the root.
DOMAIN_PAGES = ["members", "payments", "federation"]

DESCRIPTION = """
OAO links independent online shops and physical stores into one retail network.
Authenticate with `Authorization: Bearer <API key or staff session token>`.
POSTs that create or move things accept an `Idempotency-Key` header.
Errors are RFC 9457 `application/problem+json`.
"""


def create_app(settings: Settings | None = None, *, db: Database | None = None,
               clock: Clock | None = None, start_worker: bool | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    db = db or Database(settings.database_url)
    clock = clock or SystemClock()
    run_worker = settings.embedded_worker if start_worker is None else start_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if run_worker:
            from oao.payments.gateway import app_provider_factory
            from oao.worker import Worker

            worker = Worker(db=db, clock=clock, settings=settings, provider_factory=app_provider_factory(app.state))
            worker.start_thread()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(title="OAO", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.state.settings, app.state.db, app.state.clock = settings, db, clock
    install_problem_handlers(app)
    for name in DOMAIN_APIS:
        app.include_router(import_module(f"oao.{name}.api").router, prefix="/api/v1")
    for name in DOMAIN_PAGES:
        module = f"oao.{name}.web"
        try:
            app.include_router(import_module(module).router)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    from oao.web import pages

    pages.mount(app)
    return app
