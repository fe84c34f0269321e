"""CSV imports: the whole file or nothing, every bad row reported with its line."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from oao.catalog import service as catalog
from oao.catalog.importer import ImportFailed, import_csv
from oao.catalog.models import Offer, Product
from oao.core.errors import InvalidInput
from oao.inventory import service as inventory
from oao.inventory.models import StockMovement
from oao.inventory.service import LineQty
from oao.network.models import Location
from tests import factories as f
from tests.conftest import T0

API = "/api/v1"


def csv_file(text: str) -> io.BytesIO:
    return io.BytesIO(text.strip("\n").encode() + b"\n")


def count(s, model) -> int:
    return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def world(db):
    with db.unit_of_work() as s:
        a = f.merchant(s, "Bakery", at=T0)
        b = f.merchant(s, "Corner Shop", at=T0)
        store = f.location(s, a, "Office branch", 30.27, 120.15, at=T0)
        cake = f.product(s, 1, "Birthday cake", at=T0)
        bread = f.product(s, 2, "Bread", at=T0)
        return {"a": a.id, "b": b.id, "store": store.id, "cake": cake.id, "bread": bread.id,
                "a_key": f.auth(f.api_key(s, a, at=T0)), "b_key": f.auth(f.api_key(s, b, at=T0))}


# --- products -----------------------------------------------------------------------------

def test_a_good_products_file_imports_every_row(db, world):
    text = """
gtin,title,brand,category,perishable,shelf_life_days,attributes
4006381333931,Fountain pen,Stabilo,office,false,,colour=blue;nib=fine
036000291452,Tissues,Kleenex,household,no,,
96385074,"Milk, whole",Farm,dairy,true,7,fat=3.5%
"""
    seen = []
    with db.unit_of_work() as s:
        report = import_csv(s, kind="products", path_or_file=csv_file(text), merchant_id=world["a"], now=T0,
                            progress=seen.append)
    assert (report.rows_total, report.rows_imported, report.errors) == (3, 3, [])
    assert seen[-1] == 3
    with db.unit_of_work() as s:
        pen = catalog.product_by_gtin(s, gtin="4006381333931")
        assert pen.attributes == {"colour": "blue", "nib": "fine"} and pen.created_by_merchant_id == world["a"]
        milk = catalog.product_by_gtin(s, gtin="96385074")
        assert (milk.title, milk.perishable, milk.shelf_life_days) == ("Milk, whole", True, 7)


def test_a_file_with_three_bad_rows_reports_all_three_lines_and_imports_nothing(db, world):
    text = """
gtin,title,brand
4006381333931,Fountain pen,Stabilo
4006381333932,Wrong check digit,X
036000291452,Tissues,Kleenex
12AB,Letters,X
96385074,,Farm
"""
    with pytest.raises(ImportFailed) as failed, db.unit_of_work() as s:
        import_csv(s, kind="products", path_or_file=csv_file(text), merchant_id=world["a"], now=T0)
    report = failed.value.report
    assert [e["line"] for e in report.errors] == [3, 5, 6]
    assert "expected 1" in report.errors[0]["message"]
    assert "digits only" in report.errors[1]["message"]
    assert "title is empty" in report.errors[2]["message"]
    assert (report.rows_total, report.rows_imported) == (5, 0)
    with db.unit_of_work() as s:
        assert count(s, Product) == 2  # only the two the fixture made


def test_a_gtin_twice_in_one_file_is_reported_on_its_second_line(db, world):
    text = "gtin,title\n4006381333931,Pen\n\n04006381333931,Same pen\n"
    with pytest.raises(ImportFailed) as failed, db.unit_of_work() as s:
        import_csv(s, kind="products", path_or_file=csv_file(text), merchant_id=None, now=T0)
    assert failed.value.report.errors == [
        {"line": 4, "message": "GTIN 04006381333931 appears again (first on line 2)"}]


def test_products_already_in_the_shared_catalog_are_kept_as_they_are(db, world):
    text = f"gtin,title\n{f.gtin13(1)},Renamed cake\n4006381333931,Pen\n"
    with db.unit_of_work() as s:
        report = import_csv(s, kind="products", path_or_file=csv_file(text), merchant_id=world["b"], now=T0)
    assert (report.rows_imported, report.rows_unchanged) == (1, 1)
    with db.unit_of_work() as s:
        assert catalog.get_product(s, product_id=world["cake"]).title == "Birthday cake"


@pytest.mark.parametrize("text,words", [
    ("title,brand\nPen,X\n", "missing column gtin"),
    ("gtin,title,colour\n4006381333931,Pen,blue\n", "unknown column 'colour'"),
    ("", "the file is empty"),
])
def test_a_bad_header_is_reported_on_line_1(db, world, text, words):
    with pytest.raises(ImportFailed) as failed, db.unit_of_work() as s:
        import_csv(s, kind="products", path_or_file=io.BytesIO(text.encode()), merchant_id=None, now=T0)
    [error] = failed.value.report.errors
    assert error["line"] == 1 and words in error["message"]


def test_bad_products_fields_are_all_named_in_one_message(db, world):
    text = "gtin,title,perishable,shelf_life_days,attributes\n4006381333931,Pen,maybe,0,colour\n"
    with pytest.raises(ImportFailed) as failed, db.unit_of_work() as s:
        import_csv(s, kind="products", path_or_file=csv_file(text), merchant_id=None, now=T0)
    message = failed.value.report.errors[0]["message"]
    for words in ("perishable must be true or false", "shelf_life_days must be at least 1",
                  "'colour' is not key=value"):
        assert words in message


def test_a_row_with_the_wrong_number_of_fields_and_a_multiline_field_keep_true_line_numbers(db, world):
    text = 'gtin,title\n4006381333931,"Pen\nwith a long name"\n036000291452,Tissues,extra\n'
    with pytest.raises(ImportFailed) as failed, db.unit_of_work() as s:
        import_csv(s, kind="products", path_or_file=io.BytesIO(text.encode()), merchant_id=None, now=T0)
    assert failed.value.report.errors == [{"line": 4, "message": "has 3 fields but the header names 2 columns"}]


def test_rows_that_are_not_utf8_are_reported_each_on_its_line(db, world):
    text = "gtin,title\n4006381333931,Caf\xe9\n036000291452,Tissues\n96385074,\xc5\xa3\xc4\xcc\n".encode("latin-1")
    with pytest.raises(ImportFailed) as failed, db.unit_of_work() as s:
        import_csv(s, kind="products", path_or_file=io.BytesIO(text), merchant_id=None, now=T0)
    assert [(e["line"], e["message"]) for e in failed.value.report.errors] == [
        (2, "is not UTF-8 text; save the file as CSV UTF-8"), (4, "is not UTF-8 text; save the file as CSV UTF-8")]


def test_a_file_read_from_a_path_with_a_byte_order_mark_imports(db, world, tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes("\ufeffGTIN,Title\r\n4006381333931,Pen\r\n".encode())
    with db.unit_of_work() as s:
        report = import_csv(s, kind="products", path_or_file=str(path), merchant_id=None, now=T0)
    assert report.rows_imported == 1


# --- offers -------------------------------------------------------------------------------

def test_an_offers_file_sets_prices_and_channel_prices(db, world):
    text = f"""
gtin,price_minor,currency,online_price_minor,store_price_minor
{f.gtin13(1)},12900,CNY,11900,
{f.gtin13(2)},800,cny,,
"""
    with db.unit_of_work() as s:
        catalog.upsert_offer(s, merchant_id=world["a"], product_id=world["bread"], price_minor=700,
                             currency="CNY", now=T0)
    with db.unit_of_work() as s:
        report = import_csv(s, kind="offers", path_or_file=csv_file(text), merchant_id=world["a"], now=T0)
    assert (report.rows_total, report.rows_imported) == (2, 2)
    with db.unit_of_work() as s:
        offers = catalog.active_offers(s, product_ids=[world["cake"], world["bread"]])
        cake = offers[(world["a"], world["cake"])]
        assert (cake.price_minor, cake.channel_prices) == (12900, {"online": 11900})
        assert catalog.price_for(cake, "online") == 11900
        assert offers[(world["a"], world["bread"])].price_minor == 800
    with db.unit_of_work() as s:  # the same file again changes nothing
        again = import_csv(s, kind="offers", path_or_file=csv_file(text), merchant_id=world["a"], now=T0)
    assert (again.rows_imported, again.rows_unchanged) == (0, 2)


def test_bad_offer_rows_are_all_reported_and_no_price_changes(db, world):
    text = f"""
gtin,price_minor,currency
{f.gtin13(1)},12.90,CNY
{f.gtin13(2)},800,RMB
4006381333931,500,CNY
{f.gtin13(1)},-1,CNY
"""
    with pytest.raises(ImportFailed) as failed, db.unit_of_work() as s:
        import_csv(s, kind="offers", path_or_file=csv_file(text), merchant_id=world["a"], now=T0)
    errors = {e["line"]: e["message"] for e in failed.value.report.errors}
    assert sorted(errors) == [2, 3, 4, 5]
    assert "whole number of minor units" in errors[2] and "'12.90'" in errors[2]
    assert "RMB" in errors[3]
    assert "no product with GTIN 4006381333931" in errors[4]
    assert "more than 0" in errors[5]
    with db.unit_of_work() as s:
        assert count(s, Offer) == 0


def test_an_offers_import_needs_a_merchant(db, world):
    with pytest.raises(InvalidInput, match="merchant_id"), db.unit_of_work() as s:
        import_csv(s, kind="offers", path_or_file=csv_file("gtin,price_minor,currency\n"), merchant_id=None, now=T0)


# --- stock --------------------------------------------------------------------------------

def test_a_stock_import_sets_counts_and_every_change_is_a_movement(db, world):
    with db.unit_of_work() as s:
        f.stock(s, s.get(Location, world["store"]), s.get(Product, world["bread"]), 10, at=T0)
    text = f"location_id,gtin,on_hand\n{world['store']},{f.gtin13(1)},5\n{world['store']},{f.gtin13(2)},7\n"
    with db.unit_of_work() as s:
        report = import_csv(s, kind="stock", path_or_file=csv_file(text), merchant_id=world["a"], now=T0)
    assert (report.rows_imported, report.rows_unchanged) == (2, 0)
    with db.unit_of_work() as s:
        assert inventory.get_level(s, location_id=world["store"], product_id=world["cake"]).on_hand == 5
        assert inventory.get_level(s, location_id=world["store"], product_id=world["bread"]).on_hand == 7
        moves = {(m.product_id, m.kind, m.quantity) for m in s.scalars(
            select(StockMovement).where(StockMovement.reason == "stock import"))}
        assert moves == {(world["cake"], "receipt", 5), (world["bread"], "adjustment", -3)}
    with db.unit_of_work() as s:
        again = import_csv(s, kind="stock", path_or_file=csv_file(text), merchant_id=world["a"], now=T0)
    assert (again.rows_imported, again.rows_unchanged) == (0, 2)


def test_bad_stock_rows_are_reported_and_no_count_changes(db, world):
    text = f"""
location_id,gtin,on_hand
{world['store']},{f.gtin13(1)},5
loc_nowhere,{f.gtin13(1)},5
{world['store']},{f.gtin13(2)},-2
{world['store']},{f.gtin13(2)},three
{world['store']},4006381333931,1
{world['store']},{f.gtin13(1)},6
"""
    with pytest.raises(ImportFailed) as failed, db.unit_of_work() as s:
        import_csv(s, kind="stock", path_or_file=csv_file(text), merchant_id=world["a"], now=T0)
    errors = {e["line"]: e["message"] for e in failed.value.report.errors}
    assert sorted(errors) == [3, 4, 5, 6, 7]
    assert "unknown location 'loc_nowhere'" in errors[3]
    assert "on_hand must be at least 0, got -2" in errors[4]
    assert "on_hand must be a whole number, got 'three'" in errors[5]
    assert "no product with GTIN 4006381333931" in errors[6]
    assert "appears again (first on line 2)" in errors[7]
    with db.unit_of_work() as s:
        assert count(s, StockMovement) == 0


def test_counting_below_what_orders_reserved_fails_the_whole_file(db, world):
    with db.unit_of_work() as s:
        loc, bread = s.get(Location, world["store"]), s.get(Product, world["bread"])
        f.stock(s, loc, bread, 10, at=T0)
        inventory.reserve(s, merchant_id=world["a"], location_id=loc.id, lines=[LineQty(bread.id, 4)],
                          reference="ful_1", expires_at=None, now=T0)
    text = f"location_id,gtin,on_hand\n{world['store']},{f.gtin13(1)},5\n{world['store']},{f.gtin13(2)},3\n"
    # The caller commits: the importer's own savepoint must undo the first row.
    with db.unit_of_work() as s, pytest.raises(ImportFailed) as failed:
        import_csv(s, kind="stock", path_or_file=csv_file(text), merchant_id=world["a"], now=T0)
    assert [e["line"] for e in failed.value.report.errors] == [3]
    assert "4 units reserved" in failed.value.report.errors[0]["message"]
    with db.unit_of_work() as s:
        assert inventory.get_level(s, location_id=world["store"], product_id=world["cake"]) is None
        assert inventory.get_level(s, location_id=world["store"], product_id=world["bread"]).on_hand == 10


# --- through HTTP -------------------------------------------------------------------------

def test_an_upload_returns_the_report(client, world):
    text = f"gtin,price_minor,currency\n{f.gtin13(1)},12900,CNY\n"
    r = client.post(f"{API}/imports/offers", files={"file": ("offers.csv", text.encode(), "text/csv")},
                    headers=world["a_key"])
    assert r.status_code == 200, r.text
    assert r.json() == {"kind": "offers", "rows_total": 1, "rows_imported": 1, "rows_unchanged": 0, "errors": []}


def test_a_bad_upload_is_a_422_listing_every_bad_line(client, world):
    text = f"gtin,price_minor,currency\n{f.gtin13(1)},12.90,CNY\n{f.gtin13(2)},100,CNY\n123,1,CNY\n"
    r = client.post(f"{API}/imports/offers", files={"file": ("offers.csv", text.encode(), "text/csv")},
                    headers=world["a_key"])
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert "nothing was imported" in body["detail"] and "line 2" in body["detail"]
    assert [e["line"] for e in body["errors"]] == [2, 4] and body["error_count"] == 2
    assert client.get(f"{API}/offers", headers=world["a_key"]).json()["items"] == []


def test_an_unknown_import_kind_is_refused(client, world):
    r = client.post(f"{API}/imports/customers", files={"file": ("x.csv", b"a\n", "text/csv")},
                    headers=world["a_key"])
    assert r.status_code == 422 and "kind" in r.json()["detail"]


def test_a_replayed_upload_with_the_same_key_returns_the_first_report(client, world):
    text = f"gtin,price_minor,currency\n{f.gtin13(1)},12900,CNY\n".encode()
    headers = {**world["a_key"], "Idempotency-Key": "prices-monday"}
    first = client.post(f"{API}/imports/offers", files={"file": ("o.csv", text, "text/csv")}, headers=headers)
    again = client.post(f"{API}/imports/offers", files={"file": ("o.csv", text, "text/csv")}, headers=headers)
    assert first.json() == again.json() and again.json()["rows_imported"] == 1
    other = client.post(f"{API}/imports/offers", files={"file": ("o.csv", text + b"\n", "text/csv")},
                        headers=headers)
    assert other.status_code == 422 and "different request" in other.json()["detail"]
