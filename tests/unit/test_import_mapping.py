"""The transaction import's column mapping and row checks, on small hand-made frames (no database)."""

from datetime import UTC, datetime

import pandas as pd
import pytest

from oao.insights.importer import MappingError, check_rows, parse_mapping, resolve_mapping, source_key

MAPPING = {"occurred_at": "when", "product_code": "sku", "quantity": "qty", "unit_price": "price",
           "basket_ref": "receipt", "member_code": "customer"}


def frame(*rows):
    return pd.DataFrame(rows, columns=["when", "sku", "qty", "price", "receipt", "customer"])


def test_a_mapping_is_column_equals_field_and_mistakes_say_what_is_wrong():
    assert parse_mapping("Datum=occurred_at, Artikel=product_code,Menge=quantity") == {
        "occurred_at": "Datum", "product_code": "Artikel", "quantity": "Menge"}
    with pytest.raises(MappingError, match="'colour' is not a field"):
        parse_mapping("Farbe=colour")
    with pytest.raises(MappingError, match="not column=field"):
        parse_mapping("just-a-column")
    with pytest.raises(MappingError, match="mapped twice"):
        parse_mapping("a=quantity,b=quantity")


def test_a_mapping_needs_the_required_fields_and_columns_the_file_has():
    columns = ["when", "sku", "qty", "price", "receipt", "customer"]
    assert resolve_mapping(columns, preset=None, mapping=MAPPING) == MAPPING
    with pytest.raises(MappingError, match="amount or unit_price"):
        resolve_mapping(columns, preset=None, mapping={k: v for k, v in MAPPING.items() if k != "unit_price"})
    with pytest.raises(MappingError, match="no column 'nope'"):
        resolve_mapping(columns, preset=None, mapping={**MAPPING, "location_code": "nope"})
    uci = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
    assert resolve_mapping(uci, preset="uci", mapping=None)["basket_ref"] == "InvoiceNo"
    # A preset's optional column the file lacks is left out instead of failing the import.
    assert "product_title" not in resolve_mapping([c for c in uci if c != "Description"], preset="uci", mapping=None)


def test_rows_are_parsed_into_minor_units_and_utc_and_a_negative_quantity_is_a_return():
    checked = check_rows(frame(
        ["2024-03-01 09:30", "A1", "3", "1.10", "R1", "C7"],
        ["2024-03-01 09:31", "B2", "-2", "0.29", "R2", ""],
    ), MAPPING, currency="GBP", timezone="Europe/London")
    assert checked.errors.empty
    rows = checked.rows
    assert rows["kind"].tolist() == ["sale", "return"]
    assert rows["quantity"].tolist() == [3, 2]
    assert rows["amount_minor"].tolist() == [330, 58]  # no float drift: 0.29 x 2 is 58 pence
    assert rows["occurred_at"].iloc[0].to_pydatetime() == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)  # GMT in March
    assert rows["member_code"].tolist()[0] == "C7" and pd.isna(rows["member_code"].tolist()[1])


def test_times_without_a_zone_are_read_in_the_given_zone():
    checked = check_rows(frame(["2024-07-01 09:30", "A1", "1", "1", "R1", None]), MAPPING, currency="CNY",
                         timezone="Asia/Shanghai")
    assert checked.rows["occurred_at"].iloc[0].to_pydatetime() == datetime(2024, 7, 1, 1, 30, tzinfo=UTC)


def test_each_bad_row_gets_its_first_problem_and_good_rows_keep_their_position():
    checked = check_rows(frame(
        ["2024-03-01 09:30", "A1", "1", "1.00", "R1", None],  # row 1 good
        ["yesterday", "A1", "1", "1.00", "R1", None],  # row 2
        ["2024-03-01 09:30", "", "1", "1.00", "R1", None],  # row 3
        ["2024-03-01 09:30", "A1", "0", "1.00", "R1", None],  # row 4
        ["2024-03-01 09:30", "A1", "1.5", "1.00", "R1", None],  # row 5
        ["2024-03-01 09:30", "A1", "2", "-1", "R1", None],  # row 6
        ["2024-03-01 09:30", "A1", "2", "cheap", "R1", None],  # row 7
        ["2024-03-01 09:30", "A1", "2", "1.00", "R9", "x" * 81],  # row 8
        ["2024-03-01 09:32", "A2", "2", "1.00", "R2", None],  # row 9 good
    ), MAPPING, currency="GBP")
    assert checked.rows.index.tolist() == [0, 8]
    assert {i + 1: m for i, m in checked.errors.items()} == {
        2: "occurred_at 'yesterday' is not a date-time", 3: "product_code is empty", 4: "quantity is 0",
        5: "quantity '1.5' is not a whole number", 6: "unit_price is negative",
        7: "unit_price 'cheap' is not a number", 8: "member_code is longer than 80 characters"}


def test_the_uci_rule_makes_c_invoices_returns_and_refuses_negative_quantities_on_sales():
    mapping = {"occurred_at": "when", "product_code": "sku", "quantity": "qty", "unit_price": "price",
               "basket_ref": "receipt", "member_code": "customer"}
    checked = check_rows(frame(
        ["2010-12-01 08:26", "85123A", 6, 2.55, "536365", 17850.0],
        ["2010-12-01 09:41", "D", -1, 27.50, "C536379", 14527.0],
        ["2010-12-02 10:00", "21777", -10, 0.0, "536589", None],
    ), mapping, currency="GBP", return_prefix="C")
    assert checked.rows["kind"].tolist() == ["sale", "return"]
    assert checked.rows["member_code"].tolist() == ["17850", "14527"]  # float ids lose their ".0"
    assert checked.rows["amount_minor"].tolist() == [1530, 2750]
    assert checked.errors.tolist() == ["a sale line needs a positive quantity (a negative one here)"]


def test_an_explicit_kind_column_and_a_currency_column_with_its_own_exponent():
    data = pd.DataFrame({"t": ["2024-01-01T00:00:00Z"] * 3, "p": ["A", "B", "C"], "q": [1, 2, 1],
                         "amount": [1500, 300.5, 10], "b": ["1", "2", "3"], "k": ["sale", "return", "gift"],
                         "cur": ["JPY", "eur", "EUR"]})
    mapping = {"occurred_at": "t", "product_code": "p", "quantity": "q", "amount": "amount", "basket_ref": "b",
               "kind": "k", "currency": "cur"}
    checked = check_rows(data, mapping, currency="CNY")
    assert checked.rows[["kind", "currency", "amount_minor"]].values.tolist() == [
        ["sale", "JPY", 1500], ["return", "EUR", 30050]]
    assert checked.errors.tolist() == ["kind must be sale or return"]


def test_the_source_key_is_stable_for_the_same_file_and_merchant_and_a_name_overrides_it():
    a = source_key(merchant_id="mer_1", basis="sales.csv|100|1700000000")
    assert a == source_key(merchant_id="mer_1", basis="sales.csv|100|1700000000")
    assert a != source_key(merchant_id="mer_2", basis="sales.csv|100|1700000000")
    assert a != source_key(merchant_id="mer_1", basis="sales.csv|101|1700000000")
    assert len(a) <= 60 and source_key(merchant_id="mer_1", basis="x", name="history-2023") == "imp:history-2023"
