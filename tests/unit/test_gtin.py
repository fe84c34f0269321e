"""GTIN check digits and normalisation (pure, no database)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oao.catalog.gtin import InvalidGtin, check_digit, normalise_gtin, validate_gtin


@pytest.mark.parametrize("code", [
    "96385074",        # GTIN-8 (EAN-8)
    "036000291452",    # GTIN-12 (UPC-A)
    "4006381333931",   # GTIN-13 (EAN-13)
    "10614141000415",  # GTIN-14 (case of GS1's example product)
])
def test_valid_gtins_of_every_length_are_accepted(code):
    assert validate_gtin(code) == code


def test_spaces_and_hyphens_typed_between_digits_are_ignored():
    assert validate_gtin(" 4006381-333931 ") == "4006381333931"


def test_a_wrong_check_digit_is_refused_with_the_expected_digit():
    with pytest.raises(InvalidGtin, match="check digit 2, expected 1"):
        validate_gtin("4006381333932")


def test_letters_are_refused():
    with pytest.raises(InvalidGtin, match="digits only"):
        validate_gtin("40063813339A1")


@pytest.mark.parametrize("code", ["1234567", "123456789", "12345678901", "123456789012345"])
def test_a_length_other_than_8_12_13_or_14_is_refused_saying_how_many_digits(code):
    with pytest.raises(InvalidGtin, match=f"has {len(code)} digits"):
        validate_gtin(code)


def test_an_empty_gtin_is_refused_as_empty():
    with pytest.raises(InvalidGtin, match="empty"):
        validate_gtin("  ")


def test_upc_a_and_its_ean_13_form_normalise_to_the_same_lookup_key():
    assert normalise_gtin("036000291452") == normalise_gtin("0036000291452") == "00036000291452"


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_any_12_digit_body_with_its_computed_check_digit_validates(body):
    code = body + str(check_digit(body))
    assert validate_gtin(code) == code
    assert len(normalise_gtin(code)) == 14


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(min_value=1, max_value=9))
def test_any_other_last_digit_fails(body, shift):
    wrong = (check_digit(body) + shift) % 10
    with pytest.raises(InvalidGtin, match="check digit"):
        validate_gtin(body + str(wrong))
