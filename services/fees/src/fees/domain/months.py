"""Dues months (`2026-12`): what a client may name, and how far ahead."""

from __future__ import annotations

import re
from datetime import date

from fees.domain.rates import FeeRuleError

# ASCII digits only (`\d` takes full-width ones too), the whole text (`$` takes a newline).
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
# Months the league's dues can have: from its first system to a year whose end still has a
# next year (a month's figures are read up to the next month's, or year's, first instant).
_YEARS = range(2000, 3000)


def parse_month(text: str) -> date:
    """`YYYY-MM` as the first day of that month."""
    match = _MONTH.fullmatch(text)
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) not in _YEARS:
        raise FeeRuleError("fee.month_invalid", f"{text!r} is not a month (YYYY-MM).")
    return date(int(match.group(1)), int(match.group(2)), 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def check_not_too_far(month: date, today: date) -> None:
    """A cycle may be opened, or money remitted, for this month or the next, never further
    ahead: a bill for a month two ahead would be billed from profiles that will have changed,
    and no such month can have been paid."""
    if month > next_month(today.replace(day=1)):
        raise FeeRuleError(
            "fee.month_too_far", f"{month:%Y-%m} is more than one month ahead of {today:%Y-%m}."
        )


def label(month: date) -> str:
    return f"{month:%Y-%m}"
