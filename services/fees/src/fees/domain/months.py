"""Dues months (`2026-12`): what a client may name, and how far ahead."""

from __future__ import annotations

import re
from datetime import date

from fees.domain.rates import FeeRuleError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> date:
    """`YYYY-MM` as the first day of that month."""
    match = _MONTH.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 12 or not int(match.group(1)) >= 2000:
        raise FeeRuleError("fee.month_invalid", f"{text!r} is not a month (YYYY-MM).")
    return date(int(match.group(1)), int(match.group(2)), 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def check_openable(month: date, today: date) -> None:
    """A cycle may be opened for this month or the next, never further ahead: a bill for a month
    two ahead would be billed from profiles that will have changed."""
    if month > next_month(today.replace(day=1)):
        raise FeeRuleError(
            "fee.month_too_far", f"{month:%Y-%m} is more than one month ahead of {today:%Y-%m}."
        )


def label(month: date) -> str:
    return f"{month:%Y-%m}"
