"""The cashier's rules for tenders, without a database."""

import pytest

from oao.pos.tenders import MAX_AMOUNT_MINOR, Tender, TenderError, payment_method, settle


def test_exact_cash_pays_the_sale_with_no_change():
    s = settle(total_minor=1250, currency="CNY", tenders=[Tender("cash", 1250)])
    assert (s.tendered_minor, s.change_minor, s.method) == (1250, 0, "cash")


def test_cash_over_the_total_is_given_back_as_change():
    s = settle(total_minor=1250, currency="CNY", tenders=[Tender("cash", 2000)])
    assert s.change_minor == 750
    assert s.tendered_minor == 2000


def test_card_for_part_and_cash_for_the_rest_gives_change_from_the_cash():
    s = settle(total_minor=1000, currency="CNY", tenders=[Tender("card", 600), Tender("cash", 500)])
    assert (s.change_minor, s.method) == (100, "split")


def test_an_exact_card_payment_is_accepted():
    s = settle(total_minor=4999, currency="EUR", tenders=[Tender("card", 4999)])
    assert (s.change_minor, s.method) == (0, "card")


def test_two_cards_splitting_the_total_are_one_card_payment():
    s = settle(total_minor=1000, currency="CNY", tenders=[Tender("card", 400), Tender("card", 600)])
    assert (s.change_minor, s.method) == (0, "card")


def test_tenders_short_of_the_total_are_refused_saying_what_is_still_due():
    with pytest.raises(TenderError, match=r"add up to 10.00 CNY but the sale total is 12.50 CNY; 2.50 CNY"):
        settle(total_minor=1250, currency="CNY", tenders=[Tender("cash", 1000)])


def test_a_card_over_the_total_is_refused_because_only_cash_gives_change():
    with pytest.raises(TenderError, match="only cash may exceed the total"):
        settle(total_minor=1250, currency="CNY", tenders=[Tender("card", 1300)])


def test_other_in_store_tenders_over_the_total_are_refused_too():
    with pytest.raises(TenderError, match="more than the sale total of 5.00 CNY"):
        settle(total_minor=500, currency="CNY",
               tenders=[Tender("pay_in_store_other", 300), Tender("voucher", 300)])


def test_cash_that_would_all_be_handed_back_is_refused():
    with pytest.raises(TenderError, match="would all be handed back"):
        settle(total_minor=1000, currency="CNY", tenders=[Tender("card", 1000), Tender("cash", 200)])


def test_an_unknown_tender_kind_is_refused_naming_the_kinds_a_till_takes():
    with pytest.raises(TenderError, match="'bitcoin' is not one of cash, card"):
        settle(total_minor=100, currency="CNY", tenders=[Tender("bitcoin", 100)])


@pytest.mark.parametrize("amount", [0, -5])
def test_a_tender_must_be_a_positive_amount(amount):
    with pytest.raises(TenderError, match="must be a positive amount"):
        settle(total_minor=100, currency="CNY", tenders=[Tender("cash", amount), Tender("cash", 200)])


def test_no_tenders_are_needed_when_nothing_is_due_and_none_are_accepted():
    assert settle(total_minor=0, currency="CNY", tenders=[]).change_minor == 0
    with pytest.raises(TenderError, match="Nothing is due"):
        settle(total_minor=0, currency="CNY", tenders=[Tender("cash", 100)])


def test_tenders_beyond_what_the_till_can_store_are_refused():
    with pytest.raises(TenderError, match="cannot take"):
        settle(total_minor=100, currency="CNY",
               tenders=[Tender("cash", MAX_AMOUNT_MINOR), Tender("cash", MAX_AMOUNT_MINOR)])


def test_amounts_are_formatted_in_the_currency_s_own_minor_units():
    with pytest.raises(TenderError, match=r"add up to 900 JPY but the sale total is 1000 JPY"):
        settle(total_minor=1000, currency="JPY", tenders=[Tender("cash", 900)])


def test_the_payment_method_names_the_single_kind_or_says_split():
    assert payment_method([Tender("wallet", 1)]) == "wallet"
    assert payment_method([Tender("cash", 1), Tender("wallet", 1)]) == "split"
