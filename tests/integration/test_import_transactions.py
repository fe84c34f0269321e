"""`oao import transactions` and `oao insights export` on SQLite and PostgreSQL: a small CSV with a mapping
(row errors reported, products and members created once, a re-import adds nothing), the stored report
through the API, a bounded sample of UCI Online Retail, and the log written to Parquet and read back."""

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from oao.catalog.gtin import validate_gtin
from oao.catalog.models import Product
from oao.cli import main
from oao.insights import events, importer
from oao.insights.export import COLUMNS, export_events
from oao.insights.models import InsightEvent, MemberRef, ProductRef, TransactionImport
from oao.members.models import Member
from tests import factories as f
from tests.conftest import T0

UCI = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "online_retail" / "onlineretail.parquet"
CSV = """Datum;Artikel;Name;Menge;Preis;Bon;Kunde;Filiale
2024-03-01 09:30:00;A-100;Oat milk;2;1.25;B1;K1;Xihu store
2024-03-01 09:30:00;B-200;Rye bread;1;0.60;B1;K1;Xihu store
2024-03-02 10:00:00;A-100;;1;1.25;B2;;{store_id}
not a date;A-100;Oat milk;1;1.25;B3;K2;Xihu store
2024-03-03 11:00:00;C-300;Tea;0;3.00;B4;K2;Xihu store
2024-03-04 12:00:00;A-100;Oat milk;-1;1.25;B1;K1;Somewhere else
"""
MAPPING = ("Datum=occurred_at,Artikel=product_code,Name=product_title,Menge=quantity,Preis=unit_price,"
           "Bon=basket_ref,Kunde=member_code,Filiale=location_code")


@pytest.fixture
def shop(db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Green Grocer", at=T0, currency="CNY")
        other = f.merchant(s, "Rival Mart", at=T0)
        store = f.location(s, m, "Xihu store", 30.25, 120.14, at=T0)
        return {"merchant": m.id, "store": store.id, "key": f.api_key(s, m, at=T0),
                "rival_key": f.api_key(s, other, at=T0), "admin_key": f.api_key(s, None, at=T0)}


def _csv(tmp_path, shop) -> Path:
    path = tmp_path / "history.csv"
    path.write_text(CSV.format(store_id=shop["store"]).replace(";", ","))
    return path


def _import(db, shop, path, **options):
    frame, name, basis = importer.load_source(path)
    with db.unit_of_work() as s:
        return importer.import_transactions(
            s, merchant_id=shop["merchant"], frame=frame, source_name=name, now=T0,
            source=importer.source_key(merchant_id=shop["merchant"], basis=basis), timezone="Asia/Shanghai",
            mapping=importer.parse_mapping(MAPPING), **options)


def _count(db, model, *where):
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_a_csv_with_a_mapping_is_logged_with_row_errors_and_a_second_import_adds_nothing(db, shop, tmp_path):
    path = _csv(tmp_path, shop)
    report = _import(db, shop, path)
    assert (report.rows_total, report.rows_imported, report.rows_rejected) == (6, 4, 2)
    assert report.errors == [{"row": 4, "message": "occurred_at 'not a date' is not a date-time"},
                             {"row": 5, "message": "quantity is 0"}]
    assert (report.products_created, report.members_created) == (2, 1)  # C-300 and K2 only had bad rows
    assert len(report.warnings) == 1 and "'Somewhere else'" in report.warnings[0]

    with db.read() as s:
        refs = dict(s.execute(select(ProductRef.external_code, ProductRef.product_id)).all())
        products = {p.id: (p.title, p.gtin, p.created_by_merchant_id) for p in s.scalars(select(Product))}
        member_id = s.scalar(select(MemberRef.member_id).where(MemberRef.external_code == "K1"))
        member = s.get(Member, member_id)
        assert (member.email, member.phone, member.password_hash) == (None, None, None)
        lines = [(e.source_line, e.kind, e.product_id, e.member_id, e.basket_ref, e.quantity, e.amount_minor,
                  e.currency, e.location_id, e.occurred_at, e.channel)
                 for e in s.scalars(select(InsightEvent).order_by(InsightEvent.source_line))]
    assert sorted(refs) == ["A-100", "B-200"]
    milk, bread = refs["A-100"], refs["B-200"]
    assert (products[milk][0], products[bread][0]) == ("Oat milk", "Rye bread")
    for _, gtin, creator in products.values():  # internal numbers in the restricted-circulation range
        assert gtin.startswith("20") and len(gtin) == 13 and validate_gtin(gtin) == gtin
        assert creator == shop["merchant"]
    at = T0.replace(year=2024, month=3, day=1, hour=1, minute=30)  # 09:30 in Shanghai
    assert lines == [
        (0, "sale", milk, member_id, "B1", 2, 250, "CNY", shop["store"], at, "import"),  # by the store's name
        (1, "sale", bread, member_id, "B1", 1, 60, "CNY", shop["store"], at, "import"),
        (2, "sale", milk, None, "B2", 1, 125, "CNY", shop["store"], at + timedelta(days=1, minutes=30),
         "import"),  # by its id
        (5, "return", milk, member_id, "B1", 1, 125, "CNY", None, at + timedelta(days=3, hours=2.5),
         "import")]  # an unknown store code: kept without a location

    again = _import(db, shop, path)
    assert (again.rows_imported, again.rows_already_imported, again.products_created, again.members_created) \
        == (0, 4, 0, 0)
    assert (_count(db, InsightEvent), _count(db, Product), _count(db, Member), _count(db, TransactionImport)) \
        == (4, 2, 1, 2)


def test_a_changed_file_is_a_new_source_but_reuses_the_products_and_members(db, shop, tmp_path):
    path = _csv(tmp_path, shop)
    _import(db, shop, path)
    path.write_text(path.read_text() + "2024-03-05 08:00:00,B-200,Rye bread,4,0.60,B9,K1,Xihu store\n")
    report = _import(db, shop, path)
    assert (report.rows_imported, report.products_created, report.members_created) == (5, 0, 0)
    assert _count(db, Product) == 2 and _count(db, InsightEvent) == 9


def test_the_import_report_is_kept_and_shown_only_to_its_merchant(client, db, shop, tmp_path):
    report = _import(db, shop, _csv(tmp_path, shop), location_map={"Somewhere else": shop["store"]})
    assert report.warnings == []
    r = client.get("/api/v1/insights/imports", headers=f.auth(shop["key"]))
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert (item["id"], item["status"], item["rows_imported"], item["rows_rejected"]) \
        == (report.import_id, "finished", 4, 2)
    assert item["errors"][0] == {"row": 4, "message": "occurred_at 'not a date' is not a date-time"}
    assert item["mapping"]["fields"]["basket_ref"] == "Bon" and item["source_name"] == "history.csv"
    one = client.get(f"/api/v1/insights/imports/{report.import_id}", headers=f.auth(shop["key"]))
    assert one.status_code == 200 and one.json() == item
    assert client.get(f"/api/v1/insights/imports/{report.import_id}",
                      headers=f.auth(shop["rival_key"])).status_code == 404
    assert client.get("/api/v1/insights/imports", headers=f.auth(shop["rival_key"])).json() == {"items": []}
    assert client.get("/api/v1/insights/imports", headers=f.auth(shop["rival_key"]),
                      params={"merchant_id": shop["merchant"]}).status_code == 404
    assert client.get("/api/v1/insights/imports", headers=f.auth(shop["admin_key"]),
                      params={"merchant_id": shop["merchant"]}).json()["items"][0]["id"] == report.import_id
    assert client.get("/api/v1/insights/imports", headers=f.auth(shop["admin_key"])).status_code == 422


def test_the_cli_imports_with_progress_and_reports_the_bad_rows_and_a_bad_mapping(db, shop, tmp_path):
    path = _csv(tmp_path, shop)
    env = {"OAO_DATABASE_URL": db.url}
    runner = CliRunner()
    result = runner.invoke(main, ["import", "transactions", str(path), "--merchant", shop["merchant"], "--mapping",
                                  MAPPING, "--timezone", "Asia/Shanghai"], env=env)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines to the terminal's width
    assert "row 4" in said and "4 of 6 lines imported, 2 rejected" in said
    again = runner.invoke(main, ["import", "transactions", str(path), "--merchant", shop["merchant"], "--mapping",
                                 MAPPING], env=env)
    assert "0 of 6 lines imported, 2 rejected, 4 already in the log" in " ".join(again.output.split())
    bad = runner.invoke(main, ["import", "transactions", str(path), "--merchant", shop["merchant"], "--mapping",
                               "Datum=occurred_at"], env=env)
    assert bad.exit_code != 0 and "map a column to product_code" in " ".join(bad.output.split())
    with db.read() as s:
        statuses = sorted(s.scalars(select(TransactionImport.status)))
    assert statuses == ["failed", "finished", "finished"]


def test_the_log_exported_to_parquet_reads_back_equal_to_the_log(db, shop, tmp_path):
    _import(db, shop, _csv(tmp_path, shop))
    with db.unit_of_work() as s:
        events.record_product_view(s, merchant_id=shop["merchant"], product_id="prd_x", location_id=None,
                                   member_id=None, at=T0)
        events.record_product_view(s, merchant_id="mer_other", product_id="prd_x", location_id=None,
                                   member_id=None, at=T0)
    out = tmp_path / "export"
    with db.read() as s:
        report = export_events(s, out, merchant_id=shop["merchant"], page=3)  # several pages per kind
        log = [tuple(getattr(e, c) for c in COLUMNS) for e in s.scalars(
            select(InsightEvent).where(InsightEvent.merchant_id == shop["merchant"]).order_by(InsightEvent.id))]
    assert report.rows == {"sale": 3, "return": 1, "view": 1}
    assert sorted(p.name for p in out.iterdir()) == ["return.parquet", "sale.parquet", "view.parquet"]
    back = []
    for kind in ("sale", "return", "view"):
        table = pq.read_table(out / f"{kind}.parquet")
        assert table.column_names == list(COLUMNS)
        back += [tuple(row[c] for c in COLUMNS) for row in table.to_pylist()]
    assert sorted(back) == sorted(log)
    with db.read() as s:  # only what happened since: the view and nothing else in the window
        since = export_events(s, tmp_path / "since", merchant_id=shop["merchant"], since=T0)
    assert since.rows == {"view": 1}


@pytest.mark.slow
def test_a_sample_of_uci_online_retail_imports_with_cancellations_as_returns(db, shop):
    if not UCI.exists():
        pytest.skip(f"../shared/data is absent: no {UCI}")
    sample = pd.read_parquet(UCI).head(5_000)
    with db.unit_of_work() as s:
        report = importer.import_transactions(s, merchant_id=shop["merchant"], frame=sample, source_name="uci",
                                              source="imp:uci-sample", now=T0, preset="uci")
    cancelled = sample["InvoiceNo"].str.startswith("C")
    bad = (~cancelled & (sample["Quantity"] <= 0)) | (sample["UnitPrice"] < 0)
    assert (report.rows_imported, report.rows_rejected) == (int((~bad).sum()), int(bad.sum()))
    assert report.products_created == sample.loc[~bad, "StockCode"].nunique()
    assert report.members_created == sample.loc[~bad, "CustomerID"].dropna().nunique()
    with db.read() as s:
        frame = events.lines_frame(s, merchant_id=shop["merchant"], kinds=("sale", "return"))
        currencies = set(s.scalars(select(InsightEvent.currency).distinct()))
    good = sample[~bad]
    assert (frame["kind"] == "return").sum() == cancelled[~bad].sum()
    assert frame["quantity"].sum() == good["Quantity"].abs().sum()
    expected_pence = (good["UnitPrice"] * good["Quantity"].abs() * 100).round().sum()
    assert frame["amount_minor"].sum() == pytest.approx(expected_pence, abs=len(good) * 0.5)
    assert currencies == {"GBP"} and frame["member_id"].isna().sum() == good["CustomerID"].isna().sum()
