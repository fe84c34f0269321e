"""The `oao` command: serve, demo, migrate, worker, import."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from oao.config import Settings, SettingsError

console = Console()


def _settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(help="OAO: one retail network of independent online shops and physical stores.")
@click.version_option(package_name="oao")
def main() -> None:
    pass


@main.command(help="Serve the HTTP API and web pages (with the embedded worker unless OAO_EMBEDDED_WORKER=false).")
@click.option("--host", default=None, help="Bind address (default OAO_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default OAO_PORT or 8000).")
@click.option("--workers", default=1, show_default=True, help="HTTP worker processes (PostgreSQL only for >1).")
def serve(host: str | None, port: int | None, workers: int) -> None:
    import uvicorn

    settings = _settings()
    host, port = host or settings.host, port or settings.port
    if workers > 1 and settings.database_url.startswith("sqlite"):
        raise click.ClickException("Several worker processes need PostgreSQL; SQLite runs with --workers 1.")
    console.print(f"OAO on http://{host}:{port}  (API docs: http://{host}:{port}/api/docs)")
    config = uvicorn.Config("oao.app:create_app", factory=True, host=host, port=port, workers=workers,
                            log_level=settings.log_level.lower())
    # We bind the socket ourselves with IPPROTO_TCP: uvicorn's own multi-worker
    # socket is bound with protocol 0, so asyncio never sets TCP_NODELAY on its
    # connections and each keep-alive request after the first waits ~40 ms for a
    # delayed ACK (uvicorn issue #3149).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


@main.command(help="Create or upgrade the database schema (Alembic migrations).")
def migrate() -> None:
    from oao.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    console.print(f"Database schema is up to date ({_safe_url(settings.database_url)}).")


@main.command(help="Load the demo network (Hangzhou) into an empty database and print its logins and API keys.")
def demo() -> None:
    from oao.core.clock import SystemClock
    from oao.core.db import Database
    from oao.demo.load import demo_loaded, format_credentials, load_demo
    from oao.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    credentials_file = Path("var/demo-credentials.txt")
    with db.unit_of_work() as session:
        if demo_loaded(session):
            console.print("The demo network is already loaded.")
            if credentials_file.exists():
                click.echo(credentials_file.read_text())
            return
        creds = load_demo(session, now=SystemClock().now())
    text = format_credentials(creds)
    if settings.database_url.startswith("sqlite"):
        # API key secrets are stored hashed; keep the demo's next to its database to show them again.
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(text)
    click.echo(text)  # plain: a wide table must not be re-wrapped to the terminal's width


@main.command(help="Run background jobs (reservation expiry, uncollected pickups) until stopped.")
@click.option("--once", is_flag=True, help="Run every job once and exit.")
def worker(once: bool) -> None:
    from oao.core.clock import SystemClock
    from oao.core.db import Database
    from oao.worker import Worker

    settings = _settings()
    w = Worker(db=Database(settings.database_url), clock=SystemClock(), settings=settings)
    if once:
        console.print(w.run_once())
        return
    console.print(f"OAO worker running every {settings.worker_interval_seconds}s; Ctrl-C to stop.")
    try:
        w.run_forever()
    except KeyboardInterrupt:
        w.stop()


@main.command(name="import", help="Import a CSV file of products, offers or stock; all-or-nothing per file.")
@click.argument("kind", type=click.Choice(["products", "offers", "stock"]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--merchant", "merchant_id", default=None,
              help="Merchant id the offers/stock belong to (required for offers and stock).")
def import_(kind: str, path: Path, merchant_id: str | None) -> None:
    from oao.catalog.importer import ImportFailed, import_csv
    from oao.core.clock import SystemClock
    from oao.core.db import Database

    if kind in ("offers", "stock") and not merchant_id:
        raise click.ClickException(f"Importing {kind} needs --merchant <merchant id>.")
    settings = _settings()
    db = Database(settings.database_url)
    total = max(0, sum(1 for _ in path.open(encoding="utf-8-sig")) - 1)
    progress = Progress(TextColumn(f"{kind}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console)
    try:
        with progress, db.unit_of_work() as session:
            task = progress.add_task(kind, total=total)
            report = import_csv(session, kind=kind, path_or_file=path, merchant_id=merchant_id,
                                now=SystemClock().now(), progress=lambda n: progress.update(task, completed=n))
    except ImportFailed as failed:
        for err in failed.report.errors[:200]:
            console.print(f"[red]line {err['line']}[/red]: {err['message']}")
        more = len(failed.report.errors) - 200
        if more > 0:
            console.print(f"... and {more} more")
        console.print(f"Nothing imported: {len(failed.report.errors)} bad row(s) in {path}.")
        sys.exit(1)
    console.print(f"Imported {report.rows_imported} of {report.rows_total} {kind} rows from {path}.")


def _safe_url(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@main.command(name="settlement-check",
              help="Reconcile captured wallet payments with the settlement ledger; exit 1 on any difference.")
@click.option("--merchant", "merchant_id", default=None, help="Only this merchant (default: every merchant).")
def settlement_check(merchant_id: str | None) -> None:
    from oao.core.db import Database
    from oao.settlement import service as settlement

    settings = _settings()
    db = Database(settings.database_url)
    try:
        with db.read() as session:
            ok, report = settlement.reconciliation_text(session, merchant_id=merchant_id)
    finally:
        db.dispose()
    click.echo(report)
    if not ok:
        raise SystemExit(1)
