"""Background jobs: give back stock of unpaid orders and uncollected pickups,
poll wallets for late payments and send refunds, deliver the sandbox wallet's
notifications, accrue points, post money between merchants to the settlement
ledger, turn accepted agreements into data-sharing policies, deliver webhooks
and federation messages, clean up expired quotes and old idempotency keys.

Runs as a thread inside `oao serve` (embedded default) or as `oao worker`
processes; due rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL so
several workers never handle the same order, and every job is idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import delete
from sqlalchemy.orm import Session

from oao.config import Settings
from oao.core.clock import Clock
from oao.core.db import Database
from oao.core.idempotency import IdempotencyRecord
from oao.federation import client as federation_client
from oao.fulfillment.models import Quote
from oao.insights import service as insights_service
from oao.loyalty import service as loyalty
from oao.orders import service as orders
from oao.payments import gateway, sandbox
from oao.payments.gateway import ProviderFactory
from oao.settlement import service as settlement
from oao.sharing import service as sharing
from oao.webhooks import sender as webhook_sender
from oao.webhooks import service as webhooks

log = logging.getLogger("oao.worker")


def _expire_unpaid(session: Session, clock: Clock) -> int:
    return orders.expire_unpaid(session, now=clock.now())


def _expire_no_shows(session: Session, clock: Clock) -> int:
    return orders.expire_no_shows(session, now=clock.now())


def _purge_quotes(session: Session, clock: Clock) -> int:
    # Orders keep what they need from the quote; old quotes are only clutter.
    result = session.execute(delete(Quote).where(Quote.expires_at < clock.now() - timedelta(days=1)))
    return result.rowcount or 0


def _purge_idempotency_keys(session: Session, clock: Clock) -> int:
    result = session.execute(delete(IdempotencyRecord)
                             .where(IdempotencyRecord.created_at < clock.now() - timedelta(days=2)))
    return result.rowcount or 0


def _accrue_points(session: Session, clock: Clock) -> int:
    return loyalty.accrue_from_outbox(session, now=clock.now())


def _expire_points(session: Session, clock: Clock) -> int:
    return loyalty.expire_due_points(session, now=clock.now())


def _void_expired_holds(session: Session, clock: Clock) -> int:
    return loyalty.void_expired_holds(session, now=clock.now())


def _apply_agreement_policies(session: Session, clock: Clock) -> int:
    return sharing.apply_agreements_from_outbox(session, now=clock.now())


def _purge_webhook_deliveries(session: Session, clock: Clock) -> int:
    return webhooks.purge_finished(session, now=clock.now())


def _record_insight_events(session: Session, clock: Clock) -> int:
    from oao.insights import events as insight_events  # sale/return lines into the insight event log

    return insight_events.record_from_outbox(session, now=clock.now())


JOBS: dict[str, Callable[[Session, Clock], int]] = {
    "record_insight_events": _record_insight_events,
    "accrue_points": _accrue_points,
    "apply_agreement_data_policies": _apply_agreement_policies,
    "purge_webhook_deliveries": _purge_webhook_deliveries,
    "expire_points": _expire_points,
    "void_expired_points_holds": _void_expired_holds,
    "expire_unpaid_orders": _expire_unpaid,
    "expire_uncollected_pickups": _expire_no_shows,
    "purge_expired_quotes": _purge_quotes,
    "purge_idempotency_keys": _purge_idempotency_keys,
}


class Worker:
    def __init__(self, *, db: Database, clock: Clock, settings: Settings,
                 provider_factory: ProviderFactory | None = None, http: httpx.Client | None = None) -> None:
        self.db, self.clock, self.settings = db, clock, settings
        self.http = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))
        self.provider_factory = provider_factory or gateway.default_provider_factory(settings, http=self.http)
        # Jobs that call the outside world (wallet providers) open their own transactions
        # around the calls, so they get the database, not a session.
        self.outside_jobs: dict[str, Callable[[], int]] = {
            "poll_open_payments": lambda: gateway.poll_open_payments(db, clock, settings, self.provider_factory),
            "deliver_sandbox_notifications": lambda: sandbox.deliver_notifications(db, clock, settings, self.http),
            "deliver_webhooks": lambda: webhook_sender.deliver_due(db, clock, settings, self.http),
            "deliver_federation_messages": lambda: federation_client.deliver_pending(
                db, now=clock.now(), secret_key=settings.secret_key, http=self.http),
            # Trains recommendation tables of merchants due for it (needs the oao[insights] extra; without it,
            # logs once and does nothing). Reads and writes in short transactions, fits outside them.
            "train_insights": lambda: insights_service.train_due(db, now=clock.now(), settings=settings),
        }
        # Session jobs that need this instance's settings, beside the module-level JOBS.
        self.session_jobs: dict[str, Callable[[Session, Clock], int]] = {
            **JOBS,
            "post_settlement": lambda session, clock: settlement.post_from_outbox(
                session, now=clock.now(), fee_bps=settings.platform_fee_bps),
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        """Run every job once, each in its own transaction; a failing job does not stop the others."""
        done: dict[str, int] = {}
        for name, job in self.session_jobs.items():
            try:
                with self.db.unit_of_work() as session:
                    done[name] = job(session, self.clock)
            except Exception:  # noqa: BLE001 - logged; the next round retries
                log.exception("job %s failed", name)
                done[name] = -1
        for name, outside_job in self.outside_jobs.items():
            try:
                done[name] = outside_job()
            except Exception:  # noqa: BLE001 - logged; the next round retries
                log.exception("job %s failed", name)
                done[name] = -1
        handled = {k: v for k, v in done.items() if v}
        if handled:
            log.info("worker: %s", handled)
        return done

    def run_forever(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.settings.worker_interval_seconds)

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="oao-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
