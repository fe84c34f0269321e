"""Earning rules: points per amount, product over category multipliers,
channel multipliers (self-checkout earns double), minimum basket and caps."""

from datetime import UTC, datetime

from oao.loyalty.earning import DEFAULT_CHANNEL_MULTIPLIERS, Rule, Sale, SaleLine, earn, period_start


def sale(channel="till", currency="CNY", lines=((None, 10_000),)):
    items = [SaleLine(f"prd_{i}", category, 1, amount) for i, (category, amount) in enumerate(lines)]
    return Sale("mer_1", channel, currency, sum(line.amount_minor for line in items), items)


def test_one_point_per_currency_unit_rounds_down_once_over_the_basket():
    rule = Rule("CNY", points=1, per_minor=100)
    assert earn(rule, sale(lines=((None, 150), (None, 150)))).points == 3


def test_self_checkout_and_kiosk_earn_double_by_default_and_staffed_tills_do_not():
    rule = Rule("CNY", points=1, per_minor=100, channel_multipliers=DEFAULT_CHANNEL_MULTIPLIERS)
    assert earn(rule, sale("self_checkout")).points == 200
    assert earn(rule, sale("kiosk")).points == 200
    assert earn(rule, sale("till")).points == 100
    assert earn(rule, sale("online")).points == 100


def test_a_product_multiplier_beats_its_category_and_lines_get_their_share():
    rule = Rule("CNY", points=1, per_minor=100, category_multipliers={"cakes": 200},
                product_multipliers={"prd_0": 300})
    result = earn(rule, sale(lines=(("cakes", 1000), ("cakes", 1000), (None, 1000))))
    assert result.line_points == [30, 20, 10]
    assert result.points == 60


def test_a_small_basket_or_another_currency_earns_nothing():
    rule = Rule("CNY", points=1, per_minor=100, min_basket_minor=5000)
    assert earn(rule, sale(lines=((None, 4999),))).reason == "below minimum basket"
    assert earn(rule, sale(currency="EUR")).points == 0


def test_a_cap_limits_what_is_left_of_the_period():
    rule = Rule("CNY", points=1, per_minor=100, cap_points=150, cap_period="day")
    capped = earn(rule, sale(), earned_in_period=100)
    assert (capped.points, capped.reason, sum(capped.line_points)) == (50, "capped", 50)
    assert earn(rule, sale(), earned_in_period=200).points == 0


def test_cap_periods_start_at_utc_calendar_boundaries():
    at = datetime(2026, 11, 17, 15, 30, tzinfo=UTC)
    assert period_start(at, "day") == datetime(2026, 11, 17, tzinfo=UTC)
    assert period_start(at, "month") == datetime(2026, 11, 1, tzinfo=UTC)
    assert period_start(at, "year") == datetime(2026, 1, 1, tzinfo=UTC)
