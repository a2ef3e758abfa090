"""Monthly dues from a profile, under the regulation's table and the league's 2016 rule."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fees.domain.rates import (
    MAX_MONTHLY_INCOME_FEN,
    Band,
    FeeRuleError,
    RateTable,
    Rounding,
    schedule_of,
    shipped_tables,
    tables_from_toml,
)

TABLES = shipped_tables()
REGULATION = TABLES["regulation"]
LEAGUE_2016 = TABLES["league2016"]
incomes = st.integers(min_value=1, max_value=MAX_MONTHLY_INCOME_FEN)
# The regulation's 0.5% makes a fen from 100 fen up (half up); below, it makes no dues.
regulation_incomes = st.integers(min_value=100, max_value=MAX_MONTHLY_INCOME_FEN)


@pytest.mark.parametrize(
    ("income_fen", "dues_fen"),
    [
        (100, 1),  # 0.5 fen, half up
        (300_000, 1_500),  # 3,000.00 yuan: still 0.5%
        (300_001, 3_000),  # 3,000.01 yuan: 1% of the whole income, 3,000.01 fen
        (500_000, 5_000),
        (500_001, 7_500),  # 7,500.015 fen
        (1_000_000, 15_000),
        (1_000_001, 20_000),  # 20,000.02 fen
        (MAX_MONTHLY_INCOME_FEN, 2_000_000),
    ],
)
def test_every_band_edge_of_the_regulation_is_inclusive(income_fen: int, dues_fen: int) -> None:
    assert REGULATION.monthly_fen("salaried", income_fen) == dues_fen


@given(regulation_incomes)
def test_the_regulation_charges_the_whole_income_at_its_bands_rate(income_fen: int) -> None:
    edges = ((300_000, "0.005"), (500_000, "0.01"), (1_000_000, "0.015"))
    rate = next((rate for edge, rate in edges if income_fen <= edge), "0.02")
    expected = (Decimal(income_fen) * Decimal(rate)).quantize(Decimal(1), ROUND_HALF_UP)
    assert REGULATION.monthly_fen("salaried", income_fen) == int(expected)


@pytest.mark.parametrize("table", [REGULATION, LEAGUE_2016], ids=["regulation", "league2016"])
@given(lower=regulation_incomes, higher=regulation_incomes)
def test_a_higher_income_never_pays_less(table: RateTable, lower: int, higher: int) -> None:
    lower, higher = sorted((lower, higher))
    assert table.monthly_fen("salaried", lower) <= table.monthly_fen("salaried", higher)


@pytest.mark.parametrize(
    ("income_fen", "dues_fen"),
    [
        (1, 300),  # under 2,000 yuan: a flat 3 yuan
        (199_999, 300),
        (200_000, 400),  # 2,000 yuan: 2‰ is 4 yuan
        (299_999, 500),  # 5.99998 yuan, truncated to 5
        (999_999, 1_900),  # 19.99998 yuan, truncated to 19
        (1_000_000, 2_000),
        (5_000_000, 2_000),  # 100 yuan by the rate, capped at 20
    ],
)
def test_the_2016_rule_truncates_to_the_yuan_and_caps_at_20(income_fen: int, dues_fen: int) -> None:
    assert LEAGUE_2016.monthly_fen("salaried", income_fen) == dues_fen


@given(incomes)
def test_the_2016_rule_is_whole_yuan_between_3_and_20(income_fen: int) -> None:
    dues = LEAGUE_2016.monthly_fen("salaried", income_fen)
    assert dues % 100 == 0 and 300 <= dues <= 2_000


def test_categories_pay_their_flat_amount() -> None:
    assert REGULATION.monthly_fen("student", None) == 20
    for category in ("student", "unemployed", "relief"):
        assert LEAGUE_2016.monthly_fen(category, None) == 20
    # A declared income does not matter to a category.
    assert REGULATION.monthly_fen("student", 900_000) == 20


@pytest.mark.parametrize(
    ("category", "income_fen", "code"),
    [
        ("salaried", 0, "fee.income_invalid"),  # no income is a category, not a salary of 0
        ("salaried", 1, "fee.income_invalid"),  # 0.005 fen: a salary that makes no dues
        ("salaried", 99, "fee.income_invalid"),  # 0.495 fen
        ("salaried", -1, "fee.income_invalid"),
        # A category's income is not kept, but a negative or absurd one is still a mistake.
        ("student", -1, "fee.income_invalid"),
        ("student", MAX_MONTHLY_INCOME_FEN + 1, "fee.income_invalid"),
        ("salaried", MAX_MONTHLY_INCOME_FEN + 1, "fee.income_invalid"),
        ("salaried", None, "fee.income_required"),
        ("unemployed", None, "fee.unknown_category"),  # not a category of the regulation
        ("retired", 100, "fee.unknown_category"),
    ],
)
def test_profiles_the_rules_cannot_bill_say_why(
    category: str, income_fen: int | None, code: str
) -> None:
    with pytest.raises(FeeRuleError) as refused:
        REGULATION.monthly_fen(category, income_fen)
    assert refused.value.code == code


def test_a_salary_too_small_for_dues_is_told_the_tables_own_categories() -> None:
    for table, categories in ((REGULATION, "(student)"), (LEAGUE_2016, "(student, unemployed")):
        with pytest.raises(FeeRuleError) as refused:
            table.monthly_fen("salaried", 0)
        assert categories in str(refused.value)


def test_the_table_in_force_is_the_latest_effective_on_the_first_of_the_month() -> None:
    schedule = schedule_of("league2016@2016-07-01, regulation@2027-01-01", TABLES)
    assert schedule.in_force(date(2026, 12, 1)) is LEAGUE_2016
    assert schedule.in_force(date(2027, 1, 1)) is REGULATION
    assert schedule.in_force(date(2027, 1, 31)) is REGULATION
    with pytest.raises(FeeRuleError) as refused:
        schedule.in_force(date(2016, 6, 1))
    assert refused.value.code == "fee.no_rate_table"


def test_a_province_adds_a_table_of_its_own_as_data() -> None:
    tables = TABLES | tables_from_toml(
        """
        [province2028]
        categories = { student = 10, unemployed = 0 }
        bands = [{ up_to_fen = 500_000, flat_fen = 200 }, { percent = "1", cap_fen = 5_000 }]
        """
    )
    schedule = schedule_of("regulation@2000-01-01,province2028@2028-01-01", tables)
    province = schedule.in_force(date(2028, 3, 1))
    assert province.monthly_fen("salaried", 400_000) == 200
    assert province.monthly_fen("salaried", 2_000_000) == 5_000
    assert province.monthly_fen("unemployed", None) == 0


@pytest.mark.parametrize(
    "schedule",
    ["", "nowhere@2020-01-01", "regulation@2020-01-01,league2016@2020-01-01"],
)
def test_a_schedule_that_cannot_work_is_refused_at_start_up(schedule: str) -> None:
    with pytest.raises(ValueError):
        schedule_of(schedule, TABLES)


@pytest.mark.parametrize(
    "bands",
    [
        (Band(100, percent=Decimal(1)),),  # no open band last
        (Band(None, percent=Decimal(1)), Band(None, percent=Decimal(2))),
        (Band(500, flat_fen=1), Band(100, flat_fen=2), Band(None, flat_fen=3)),  # edges fall
    ],
)
def test_a_table_with_gaps_or_overlaps_is_refused(bands: tuple[Band, ...]) -> None:
    with pytest.raises(ValueError):
        RateTable("bad", bands, {})


@pytest.mark.parametrize(
    "band",
    [
        {"up_to_fen": None},  # neither percent nor flat
        {"up_to_fen": None, "percent": Decimal(1), "flat_fen": 1},
        {"up_to_fen": None, "percent": Decimal(101)},
        {"up_to_fen": None, "flat_fen": -1},
    ],
)
def test_a_band_that_charges_nonsense_is_refused(band: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Band(**band)  # type: ignore[arg-type]


def test_rounding_down_to_the_yuan_never_rounds_up() -> None:
    band = Band(None, percent=Decimal("0.2"), rounding=Rounding.DOWN_YUAN)
    assert band.amount_fen(99_999) == 100  # 199.998 fen is one yuan, not two
