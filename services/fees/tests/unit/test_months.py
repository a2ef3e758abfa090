"""Which months a client may name, and how far ahead a cycle may be opened."""

from __future__ import annotations

from datetime import date

import pytest

from fees.domain.months import check_not_too_far, label, next_month, parse_month
from fees.domain.rates import FeeRuleError


def test_a_month_is_year_dash_month() -> None:
    assert parse_month("2026-12") == date(2026, 12, 1)
    assert label(date(2026, 12, 31)) == "2026-12"


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-00",
        "2026-1",
        "202612",
        "2026/12",
        "1999-12",
        "",
        "２０２６-１２",  # full-width digits are digits to `\d`, not to a month
        "2026-12\n",
        " 2026-12",
        "9999-12",  # a month whose next year has no first day
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(FeeRuleError) as refused:
        parse_month(text)
    assert refused.value.code == "fee.month_invalid"


def test_next_month_crosses_the_year() -> None:
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert next_month(date(2026, 1, 1)) == date(2026, 2, 1)


def test_a_cycle_opens_for_this_month_or_the_next_at_the_latest() -> None:
    today = date(2026, 12, 3)
    check_not_too_far(date(2026, 12, 1), today)
    check_not_too_far(date(2027, 1, 1), today)
    check_not_too_far(date(2025, 6, 1), today)  # a past month: bills that were never made
    with pytest.raises(FeeRuleError) as refused:
        check_not_too_far(date(2027, 2, 1), today)
    assert refused.value.code == "fee.month_too_far"
