"""CSV import of products, offers and stock counts: all or nothing per file.

Every row is parsed and checked first, against the database in a few batched
queries rather than one per row, so a 100k-row file costs a handful of
lookups. Any bad row means nothing is written and the report lists every bad
row with its line number and why, so a merchant fixes the file in one go.

Columns (header on line 1, names in any order and case):
- products: gtin, title [, brand, category, perishable, shelf_life_days, attributes]
  with attributes as `key=value;key=value`
- offers:   gtin, price_minor, currency [, online_price_minor, store_price_minor, kiosk_price_minor]
- stock:    location_id, gtin, on_hand (sets the counted on-hand; every change is a movement)
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.catalog.gtin import InvalidGtin, normalise_gtin
from oao.catalog.models import Offer, Product
from oao.catalog.schemas import CHANNELS, check_currency
from oao.core.errors import InsufficientStock, InvalidInput
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.inventory import service as inventory
from oao.network import service as network

KINDS = ("products", "offers", "stock")
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # kind -> (required, optional)
    "products": (("gtin", "title"), ("brand", "category", "perishable", "shelf_life_days", "attributes")),
    "offers": (("gtin", "price_minor", "currency"), tuple(f"{c}_price_minor" for c in CHANNELS)),
    "stock": (("location_id", "gtin", "on_hand"), ()),
}
PROGRESS_EVERY = 1000
# The problem body lists this many bad rows; the report keeps them all.
MAX_ERRORS_SHOWN = 1000
_NOT_UTF8 = "\ufffd"
_TRUE, _FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0", ""}


@dataclass
class ImportReport:
    kind: str
    rows_total: int = 0
    rows_imported: int = 0  # rows that created or changed something
    rows_unchanged: int = 0  # product already in the catalog, same price, same count
    errors: list[dict[str, Any]] = field(default_factory=list)  # [{"line": 3, "message": "..."}]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rows_total": self.rows_total, "rows_imported": self.rows_imported,
                "rows_unchanged": self.rows_unchanged, "errors": list(self.errors)}


class ImportFailed(InvalidInput):
    """The file had bad rows and nothing was imported; `.report.errors` says which and why."""

    slug, title = "import-failed", "Import failed; nothing was imported"

    def __init__(self, report: ImportReport) -> None:
        shown = report.errors[:MAX_ERRORS_SHOWN]
        first = "; ".join(f"line {e['line']}: {e['message']}" for e in shown[:3])
        count = len(report.errors)
        super().__init__(f"{count} bad row{'s' if count != 1 else ''} in the {report.kind} file; nothing was "
                         f"imported. Fix them and send the whole file again. {first}",
                         errors=shown, error_count=count, rows_total=report.rows_total)
        self.report = report


class _RowError(Exception):
    pass


@dataclass(slots=True)
class _Row:
    line: int
    gtin: str
    gtin14: str
    values: dict[str, Any]


# --- reading -------------------------------------------------------------------------------

def _open(path_or_file: str | os.PathLike[str] | IO[Any]) -> tuple[IO[str], Callable[[], None]]:
    """A text stream over a path, a text file or a binary file (uploads), BOM-tolerant.

    Bytes that are not UTF-8 become U+FFFD instead of stopping the read, so
    every such row is reported on its own line (a GBK or Latin-1 export).
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        stream = open(path_or_file, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115
        return stream, stream.close
    if isinstance(path_or_file, io.TextIOBase):
        return path_or_file, lambda: None
    wrapper = io.TextIOWrapper(path_or_file, encoding="utf-8-sig", errors="replace",  # type: ignore[arg-type]
                               newline="")
    return wrapper, wrapper.detach  # detach: the caller's binary file stays open


def _records(stream: IO[str], kind: str, report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, {column: value}) per non-blank data row; file-level problems go to the report."""
    required, optional = COLUMNS[kind]
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
        if header is None:
            report.errors.append({"line": 1, "message": f"the file is empty; line 1 must name the columns "
                                                        f"{', '.join(required)}"})
            return
        names = [h.strip().lower() for h in header]
        problems = []
        missing = [c for c in required if c not in names]
        if missing:
            problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        unknown = [n for n in names if n not in required + optional]
        if unknown:
            problems.append(f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                            f"(known: {', '.join(required + optional)})")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            problems.append(f"column{'s' if len(repeated) > 1 else ''} {', '.join(repeated)} appear twice")
        if problems:
            report.errors.append({"line": 1, "message": "; ".join(problems)})
            return
        last = reader.line_num
        for fields in reader:
            line, last = last + 1, reader.line_num  # a quoted field may span lines: report where it starts
            if not any(f.strip() for f in fields):
                continue
            report.rows_total += 1
            if any(_NOT_UTF8 in f for f in fields):
                report.errors.append({"line": line, "message": "is not UTF-8 text; save the file as CSV UTF-8"})
                continue
            if len(fields) != len(names):
                report.errors.append({"line": line, "message": f"has {len(fields)} fields but the header "
                                                               f"names {len(names)} columns"})
                continue
            yield line, {n: f.strip() for n, f in zip(names, fields, strict=False)}
    except csv.Error as exc:
        report.errors.append({"line": reader.line_num, "message": f"is not valid CSV: {exc}"})


# --- per-kind row checks (no database) ------------------------------------------------------

def _gtin(value: str) -> tuple[str, str]:
    if not value:
        raise _RowError("gtin is empty")
    try:
        return value, normalise_gtin(value)
    except InvalidGtin as exc:
        raise _RowError(str(exc)) from None


def _int(name: str, value: str, *, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise _RowError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise _RowError(f"{name} must be at least {minimum}, got {number}")
    return number


def _price(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise _RowError(f"{name} must be a whole number of minor units (1299 for 12.99), got {value!r}") from None
    if number <= 0:
        raise _RowError(f"{name} must be more than 0, got {number}")
    return number


def _attributes(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in value.split(";"))):
        key, sep, val = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise _RowError(f"attributes: {part!r} is not key=value (write size=42;colour=red)")
        if key in out:
            raise _RowError(f"attributes: {key!r} is given twice")
        out[key] = val.strip()
    return out


def _check_each(checks: list[Callable[[], None]]) -> None:
    """Run every check of a row so one message names all its problems."""
    problems = []
    for check in checks:
        try:
            check()
        except _RowError as exc:
            problems.append(str(exc))
    if problems:
        raise _RowError("; ".join(problems))


def _product_row(line: int, rec: dict[str, str]) -> _Row:
    out: dict[str, Any] = {}

    def title() -> None:
        if not rec["title"]:
            raise _RowError("title is empty")
        if len(rec["title"]) > 300:
            raise _RowError(f"title has {len(rec['title'])} characters; the most is 300")
        out["title"] = rec["title"]

    def text(name: str, most: int) -> Callable[[], None]:
        def check() -> None:
            if len(rec.get(name, "")) > most:
                raise _RowError(f"{name} has {len(rec[name])} characters; the most is {most}")
            out[name] = rec.get(name, "")
        return check

    def perishable() -> None:
        raw = rec.get("perishable", "").lower()
        if raw not in _TRUE | _FALSE:
            raise _RowError(f"perishable must be true or false, got {rec['perishable']!r}")
        out["perishable"] = raw in _TRUE

    def shelf_life() -> None:
        raw = rec.get("shelf_life_days", "")
        out["shelf_life_days"] = _int("shelf_life_days", raw, minimum=1) if raw else None

    def attributes() -> None:
        out["attributes"] = _attributes(rec.get("attributes", ""))

    gtin: list[tuple[str, str]] = []
    _check_each([lambda: gtin.append(_gtin(rec["gtin"])), title, text("brand", 120), text("category", 120),
                 perishable, shelf_life, attributes])
    return _Row(line, gtin[0][0], gtin[0][1], out)


def _offer_row(line: int, rec: dict[str, str]) -> _Row:
    out: dict[str, Any] = {"channel_prices": {}}

    def currency() -> None:
        try:
            out["currency"] = check_currency(rec["currency"].upper())
        except ValueError as exc:
            raise _RowError(str(exc)) from None

    def channel(name: str) -> Callable[[], None]:
        def check() -> None:
            raw = rec.get(f"{name}_price_minor", "")
            if raw:
                out["channel_prices"][name] = _price(f"{name}_price_minor", raw)
        return check

    def price() -> None:
        out["price_minor"] = _price("price_minor", rec["price_minor"])

    gtin: list[tuple[str, str]] = []
    _check_each([lambda: gtin.append(_gtin(rec["gtin"])), price, currency, *map(channel, CHANNELS)])
    return _Row(line, gtin[0][0], gtin[0][1], out)


def _stock_row(line: int, rec: dict[str, str]) -> _Row:
    out: dict[str, Any] = {}

    def location() -> None:
        if not rec["location_id"]:
            raise _RowError("location_id is empty")
        out["location_id"] = rec["location_id"]

    def on_hand() -> None:
        out["on_hand"] = _int("on_hand", rec["on_hand"], minimum=0)

    gtin: list[tuple[str, str]] = []
    _check_each([lambda: gtin.append(_gtin(rec["gtin"])), location, on_hand])
    return _Row(line, gtin[0][0], gtin[0][1], out)


_PARSERS = {"products": _product_row, "offers": _offer_row, "stock": _stock_row}


# --- checks against the database, then writes ------------------------------------------------

class _Errors:
    def __init__(self, report: ImportReport) -> None:
        self.report = report

    def add(self, line: int, message: str) -> None:
        self.report.errors.append({"line": line, "message": message})


def _no_repeats(rows: list[_Row], key: Callable[[_Row], Any], what: Callable[[_Row], str],
                errors: _Errors) -> list[_Row]:
    first: dict[Any, int] = {}
    kept = []
    for row in rows:
        k = key(row)
        if k in first:
            errors.add(row.line, f"{what(row)} appears again (first on line {first[k]})")
        else:
            first[k] = row.line
            kept.append(row)
    return kept


def _known_products(session: Session, rows: list[_Row], errors: _Errors) -> tuple[list[_Row], dict[str, str]]:
    ids = catalog.product_ids_by_gtin14(session, gtin14s=(r.gtin14 for r in rows))
    kept = []
    for row in rows:
        if row.gtin14 in ids:
            kept.append(row)
        else:
            errors.add(row.line, f"no product with GTIN {row.gtin} in the catalog; import it as a product first")
    return kept, ids


def _progress_every(progress: Callable[[int], None] | None, done: int, total: int) -> None:
    if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
        progress(done)


def _import_products(session: Session, rows: list[_Row], merchant_id: str | None, now: datetime,
                     report: ImportReport, errors: _Errors, progress: Callable[[int], None] | None) -> None:
    rows = _no_repeats(rows, lambda r: r.gtin14, lambda r: f"GTIN {r.gtin}", errors)
    if report.errors:
        return
    existing = catalog.product_ids_by_gtin14(session, gtin14s=(r.gtin14 for r in rows))
    batch: list[dict[str, Any]] = []
    for done, row in enumerate(rows, 1):
        # The shared catalog keeps the first description of a GTIN; a merchant's file cannot overwrite it.
        if row.gtin14 in existing:
            report.rows_unchanged += 1
        else:
            product = {"id": new_id("prd"), "gtin": row.gtin, "gtin14": row.gtin14, "created_at": now,
                       "created_by_merchant_id": merchant_id, **row.values}
            batch.append(product)
            record_event(session, type="product.created", subject_id=product["id"], merchant_id=merchant_id,
                         payload={"gtin": row.gtin, "title": product["title"], "brand": product["brand"],
                                  "category": product["category"], "source": "import"}, at=now)
            report.rows_imported += 1
        if len(batch) == PROGRESS_EVERY or done == len(rows):
            # Core executemany: ORM objects would cost more than the database does here.
            if batch:
                session.execute(insert(Product), batch)
            batch = []
            session.flush()
        _progress_every(progress, done, len(rows))


def _import_offers(session: Session, rows: list[_Row], merchant_id: str, now: datetime, report: ImportReport,
                   errors: _Errors, progress: Callable[[int], None] | None) -> None:
    network.get_merchant(session, merchant_id=merchant_id)
    rows = _no_repeats(rows, lambda r: r.gtin14, lambda r: f"GTIN {r.gtin}", errors)
    rows, product_ids = _known_products(session, rows, errors)
    if report.errors:
        return
    current = catalog.offers_for(session, merchant_id=merchant_id,
                                 product_ids=[product_ids[r.gtin14] for r in rows])
    batch: list[dict[str, Any]] = []
    for done, row in enumerate(rows, 1):
        v, product_id = row.values, product_ids[row.gtin14]
        wanted = {"price_minor": v["price_minor"], "currency": v["currency"],
                  "channel_prices": v["channel_prices"], "active": True}
        offer = current.get(product_id)
        if offer is not None and all(getattr(offer, k) == w for k, w in wanted.items()):
            report.rows_unchanged += 1
            offer_id = None
        elif offer is not None:
            for name, value in wanted.items():
                setattr(offer, name, value)
            offer.updated_at = now
            offer_id = offer.id
        else:
            # New offers go in by Core executemany, like products; the lookups above were batched.
            offer_id = new_id("ofr")
            batch.append({"id": offer_id, "merchant_id": merchant_id, "product_id": product_id, "updated_at": now,
                          **wanted})
        if offer_id is not None:
            record_event(session, type="offer.updated", subject_id=offer_id, merchant_id=merchant_id,
                         payload={"product_id": product_id, **wanted, "source": "import"}, at=now)
            report.rows_imported += 1
        if len(batch) == PROGRESS_EVERY or done == len(rows):
            if batch:
                session.execute(insert(Offer), batch)
            batch = []
            session.flush()
        _progress_every(progress, done, len(rows))


def _import_stock(session: Session, rows: list[_Row], merchant_id: str | None, now: datetime,
                  report: ImportReport, errors: _Errors, progress: Callable[[int], None] | None) -> None:
    rows = _no_repeats(rows, lambda r: (r.values["location_id"], r.gtin14),
                       lambda r: f"GTIN {r.gtin} at location {r.values['location_id']}", errors)
    locations = {loc.id: loc for loc in network.locations_by_ids(
        session, location_ids={r.values["location_id"] for r in rows})}
    known = []
    for row in rows:
        loc = locations.get(row.values["location_id"])
        # Another merchant's location reads exactly like a missing one.
        if loc is None or (merchant_id is not None and loc.merchant_id != merchant_id):
            errors.add(row.line, f"unknown location {row.values['location_id']!r}")
        else:
            known.append(row)
    rows, product_ids = _known_products(session, known, errors)
    if report.errors:
        return
    keyed = {(row.values["location_id"], product_ids[row.gtin14]): row for row in rows}
    # Every row is checked against what open orders reserved before anything is written, so the
    # report names them all; set_stock_counts checks again under its row locks.
    levels = inventory.level_figures(session, keys=keyed)
    for key, row in keyed.items():
        reserved = levels[key][1] if key in levels else 0
        if row.values["on_hand"] < reserved:
            errors.add(row.line, _below_reserved(row.values["on_hand"], reserved))
    if report.errors:
        return
    by_merchant: dict[str, list[tuple[str, str, int]]] = {}
    for (location_id, product_id), row in keyed.items():
        by_merchant.setdefault(locations[location_id].merchant_id, []).append(
            (location_id, product_id, row.values["on_hand"]))
    reported = 0

    def counted(done: int) -> None:
        nonlocal reported
        if progress is not None and (done // PROGRESS_EVERY > reported // PROGRESS_EVERY or done == len(rows)):
            progress(done)
        reported = done

    try:
        # One savepoint around every merchant's batch (a network admin's file may hold several).
        with session.begin_nested():
            for merchant, counts in sorted(by_merchant.items()):
                base = reported
                report.rows_imported += inventory.set_stock_counts(
                    session, merchant_id=merchant, counts=counts, reason="stock import", now=now,
                    progress=lambda done, base=base: counted(base + done))
    except InsufficientStock as exc:
        # An order reserved units between the check above and the locked write.
        row = keyed[(exc.extra["location_id"], exc.extra["product_id"])]
        errors.add(row.line, _below_reserved(row.values["on_hand"], exc.extra["reserved"]))
        report.rows_imported = 0
        return
    report.rows_unchanged = len(rows) - report.rows_imported


def _below_reserved(counted: int, reserved: int) -> str:
    return (f"on_hand {counted} is below the {reserved} units reserved for orders at this location; "
            "count again or release the orders first")


def import_csv(session: Session, *, kind: str, path_or_file: str | os.PathLike[str] | IO[Any],
               merchant_id: str | None, now: datetime,
               progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import a whole CSV file or nothing of it; raises ImportFailed listing every bad row.

    `merchant_id` is whose offers or stock these are (offers need one; for
    stock, None lets a network admin count any merchant's locations; for
    products it is recorded as the creator). `progress` is called with the
    number of rows written so far, every 1000 rows and at the end.
    """
    if kind not in KINDS:
        raise InvalidInput(f"Unknown import kind {kind!r}; use {', '.join(KINDS)}.")
    if kind == "offers" and merchant_id is None:
        raise InvalidInput("An offers import is for one merchant; give merchant_id.")
    report = ImportReport(kind=kind)
    errors = _Errors(report)
    stream, close = _open(path_or_file)
    rows: list[_Row] = []
    try:
        parse = _PARSERS[kind]
        for line, rec in _records(stream, kind, report):
            try:
                rows.append(parse(line, rec))
            except _RowError as exc:
                errors.add(line, str(exc))
    finally:
        close()
    if not any(e["line"] == 1 for e in report.errors):
        writer = {"products": _import_products, "offers": _import_offers, "stock": _import_stock}[kind]
        writer(session, rows, merchant_id, now, report, errors, progress)  # type: ignore[operator]
    if report.errors:
        report.errors.sort(key=lambda e: e["line"])
        raise ImportFailed(report)
    if report.rows_total == 0:
        raise InvalidInput(f"The {kind} file has a header but no rows; nothing to import.")
    record_event(session, type=f"import.{kind}", subject_id=new_id("imp"), merchant_id=merchant_id,
                 payload={"rows_total": report.rows_total, "rows_imported": report.rows_imported,
                          "rows_unchanged": report.rows_unchanged}, at=now)
    return report
