"""CSV imports from the merchant dashboard: upload, watch the progress, read the row errors.

The file is imported by the same `catalog.importer.import_csv` as
POST /api/v1/imports/{kind}, in a background thread so a 100k-row file does
not hold the browser's request open; the page polls a progress fragment (htmx,
or a meta refresh without JavaScript) until the job is done.

The importer is all-or-nothing per file. A person uploading a file usually
wants the good rows in and a list of the bad ones to fix, so by default
("skip bad rows") a failed file is imported again without its bad rows, in a
new transaction; errors found only on that pass (a count below reserved
stock) are skipped the same way, at most a few times. Unticking the box keeps
the API's all-or-nothing behaviour.

Jobs live in this process's memory: enough for one server process; a restart
forgets finished reports (the imported rows are in the database, and every
import writes an `import.<kind>` event).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oao.catalog import importer
from oao.core.clock import Clock
from oao.core.db import Database
from oao.core.errors import InvalidInput, NotFound, Problem
from oao.core.ids import new_id
from oao.network import service as network
from oao.web.common import AdminPageDep, check_csrf, is_htmx
from oao.web.console.common import Scope, pick_merchant, scope_for, show

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_PASSES = 3  # the first pass, then up to two passes without the rows found bad
KEEP_JOBS = 200
KIND_TITLES = {"products": "Products", "offers": "Offers (prices)", "stock": "Stock counts"}
TEMPLATES = {
    "products": "gtin,title,brand,category,perishable,shelf_life_days,attributes\n"
                "6901234567892,Jasmine green tea 250 g,Hangzhou Leaf,tea,false,,weight=250g\n",
    "offers": "gtin,price_minor,currency,online_price_minor,store_price_minor,kiosk_price_minor\n"
              "6901234567892,2890,CNY,,,\n",
    "stock": "location_id,gtin,on_hand\nloc_your_location_id,6901234567892,24\n",
}


@dataclass
class ImportJob:
    id: str
    kind: str
    merchant_id: str
    owner_id: str  # the staff user who started it; only they and network admins see it
    filename: str
    skip_bad: bool
    status: str = "queued"  # queued | checking | writing | done | failed
    rows_total: int = 0
    rows_done: int = 0
    rows_imported: int = 0
    rows_unchanged: int = 0
    rows_skipped: int = 0
    message: str = ""
    errors: list[dict[str, object]] = field(default_factory=list)  # {"line", "column", "message"}

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0


_jobs: dict[str, ImportJob] = {}
_jobs_lock = threading.Lock()


def _remember(job: ImportJob) -> None:
    with _jobs_lock:
        _jobs[job.id] = job
        for old in [j for j in _jobs.values() if j.finished][:-KEEP_JOBS]:
            _jobs.pop(old.id, None)


# --- the file: records by line, rebuilt without bad rows, errors by column --------------------

def records_by_line(data: bytes) -> tuple[list[str], dict[int, list[str]]]:
    """The header and each non-blank data record keyed by the line it starts on, numbered as the importer does."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=""))
    try:
        header = next(reader, [])
        out: dict[int, list[str]] = {}
        last = reader.line_num
        for fields in reader:
            line, last = last + 1, reader.line_num
            if any(f.strip() for f in fields):
                out[line] = fields
    except csv.Error:
        return [], {}  # the importer reports where the file stops being CSV
    return header, out


def without_lines(header: list[str], records: dict[int, list[str]], skip: set[int]) -> tuple[bytes, dict[int, int]]:
    """The file again without the skipped records, and new line -> original line."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    line, mapping = 2, {}
    for original, fields in sorted(records.items()):
        if original in skip:
            continue
        start = buffer.tell()
        writer.writerow(fields)
        mapping[line] = original
        line += buffer.getvalue()[start:].count("\n")
    return buffer.getvalue().encode(), mapping


def column_of(kind: str, message: str) -> str:
    """The column a row error is about, read from the importer's message ('' for the whole row)."""
    required, optional = importer.COLUMNS[kind]
    text = message.lower()
    for name in sorted(required + optional, key=len, reverse=True):
        if text.startswith((f"{name} ", f"{name}:", f"{name}.")):
            return name
    if text.startswith(("gtin", "no product with gtin")):
        return "gtin"
    if text.startswith("unknown location"):
        return "location_id"
    return ""


def _problems(kind: str, message: str) -> list[str]:
    """The importer joins a row's problems with '; '; split only where the next one names a column
    (a single message may itself contain '; ')."""
    required, optional = importer.COLUMNS[kind]
    names = "|".join(re.escape(n) for n in sorted({*required, *optional, "GTIN"}, key=len, reverse=True))
    return re.split(rf"; (?=(?:{names})\b)", message)


def split_errors(kind: str, errors: list[dict[str, object]], mapping: dict[int, int] | None) -> list[dict[str, object]]:
    """One table row per problem: (original line, column, message)."""
    out = []
    for error in errors:
        line = int(error["line"])  # type: ignore[arg-type]
        if mapping is not None and line != 1:
            line = mapping.get(line, line)
        parts = [str(error["message"])] if line == 1 else _problems(kind, str(error["message"]))
        out.extend({"line": line, "column": column_of(kind, part), "message": part} for part in parts)
    return out


# --- running a job ---------------------------------------------------------------------------

def run_job(job: ImportJob, data: bytes, db: Database, clock: Clock) -> None:
    """Import the file (skipping bad rows if asked); every outcome ends in job.status done or failed."""
    try:
        _run(job, data, db, clock.now)
    except Exception:  # a bug must still end the job, or the page would poll for ever
        log.exception("import job %s failed", job.id)
        job.message = "The import stopped on an unexpected error; nothing more was written. Try again."
        job.status = "failed"


def _run(job: ImportJob, data: bytes, db: Database, now: Callable[[], datetime]) -> None:
    header, records = records_by_line(data)
    job.rows_total = len(records)
    skip: set[int] = set()
    for _attempt in range(MAX_PASSES):
        payload, mapping = (data, None) if not skip else without_lines(header, records, skip)
        job.status, job.rows_done = "checking", len(skip)

        def progress(done: int, base: int = len(skip)) -> None:
            job.status, job.rows_done = "writing", base + done

        try:
            with db.unit_of_work() as session:
                report = importer.import_csv(session, kind=job.kind, path_or_file=io.BytesIO(payload),
                                             merchant_id=job.merchant_id, now=now(), progress=progress)
        except importer.ImportFailed as exc:
            found = split_errors(job.kind, exc.report.errors, mapping)
            job.errors.extend(found)
            lines = {int(e["line"]) for e in found}  # type: ignore[arg-type]
            if not job.skip_bad or 1 in lines or not lines - skip:
                job.message = ("Nothing was imported: the file has bad rows (below). Fix them and upload it again."
                               if not job.skip_bad else "Nothing was imported: the file itself has a problem "
                               "(below). Fix it and upload it again.")
                job.status = "failed"
                return
            skip |= lines
            if len(skip) >= len(records):
                job.message = "Every row has an error; nothing was imported."
                job.status = "failed"
                return
            continue
        except Problem as exc:
            job.message, job.status = exc.detail, "failed"
            return
        job.rows_imported, job.rows_unchanged = report.rows_imported, report.rows_unchanged
        job.rows_skipped, job.rows_done = len(skip), job.rows_total
        job.errors.sort(key=lambda e: (e["line"], e["column"]))
        job.status = "done"
        return
    job.message = "Some rows kept failing after the bad ones were taken out; nothing was imported."
    job.status = "failed"


# --- pages ---------------------------------------------------------------------------------

def _job_for(scope: Scope, job_id: str) -> ImportJob:
    job = _jobs.get(job_id)
    principal = scope.ctx.principal
    if job is None or job.merchant_id != scope.merchant_id or not (
            principal.is_network_admin or job.owner_id == principal.id):
        raise NotFound(f"No import {job_id!r}; finished imports are kept until the server restarts.")
    return job


@router.get("/console/imports", response_class=HTMLResponse)
def imports_page(request: Request, ctx: AdminPageDep, merchant: str | None = None, kind: str = "products"
                 ) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "imports")
    recent = [j for j in reversed(list(_jobs.values())) if j.merchant_id == scope.merchant_id
              and (ctx.principal.is_network_admin or j.owner_id == ctx.principal.id)][:5]
    return show(request, scope, "console/imports.html", "imports", {
        "kind": kind if kind in importer.KINDS else "products", "kinds": KIND_TITLES, "columns": importer.COLUMNS,
        "recent": recent, "error": None})


@router.get("/console/imports/template/{kind}.csv")
def template_csv(kind: str, ctx: AdminPageDep, merchant: str | None = None) -> Response:
    if kind not in TEMPLATES:
        raise NotFound(f"No template {kind!r}; use {', '.join(TEMPLATES)}.")
    body = TEMPLATES[kind]
    scope = scope_for(ctx, merchant)
    if scope is not None and kind == "stock":
        # The stock template names one of the merchant's own locations, so it imports as it is.
        with ctx.read() as session:
            locations = network.list_locations(session, merchant_id=scope.merchant_id)
            if locations:
                body = body.replace("loc_your_location_id", locations[0].id)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="oao-{kind}-template.csv"'})


@router.post("/console/imports", response_class=HTMLResponse)
def start_import(request: Request, ctx: AdminPageDep, file: Annotated[UploadFile | None, File()] = None,
                 kind: Annotated[str, Form(max_length=20)] = "products",
                 skip_bad: Annotated[str, Form(max_length=10)] = "",
                 csrf: Annotated[str, Form(max_length=200)] = "",
                 merchant: Annotated[str, Form(max_length=40)] = "") -> Response:
    check_csrf(request, csrf)
    scope = scope_for(ctx, merchant or None)
    if scope is None:
        raise InvalidInput("Pick a merchant first.")
    if kind not in importer.KINDS:
        raise InvalidInput(f"Unknown import kind {kind!r}; use {', '.join(importer.KINDS)}.")
    ctx.principal.ensure_admin_of(scope.merchant_id)
    data = file.file.read(MAX_UPLOAD_BYTES + 1) if file is not None else b""
    error = None
    if file is None or not file.filename or not data:
        error = "Choose a CSV file to upload."
    elif len(data) > MAX_UPLOAD_BYTES:
        error = "That file is over 50 MB; split it into smaller files."
    if error:
        return show(request, scope, "console/imports.html", "imports", {
            "kind": kind, "kinds": KIND_TITLES, "columns": importer.COLUMNS, "recent": [], "error": error},
            status=422)
    job = ImportJob(id=new_id("imp"), kind=kind, merchant_id=scope.merchant_id, owner_id=ctx.principal.id,
                    filename=file.filename or "upload.csv", skip_bad=bool(skip_bad))
    _remember(job)
    threading.Thread(target=run_job, args=(job, data, ctx.db, ctx.clock), name=f"import-{job.id}",
                     daemon=True).start()
    return RedirectResponse(scope.link(f"/console/imports/{job.id}"), status_code=303)


@router.get("/console/imports/{job_id}", response_class=HTMLResponse)
def import_job(request: Request, job_id: str, ctx: AdminPageDep, merchant: str | None = None) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "imports")
    job = _job_for(scope, job_id)
    template = "console/_import_progress.html" if is_htmx(request) else "console/import_job.html"
    return show(request, scope, template, "imports", {"job": job, "kinds": KIND_TITLES})
