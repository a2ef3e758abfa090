"""Mainland China working-day calendar: statutory holidays, make-up days (调休), and deadlines."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import chinese_calendar

OVERRIDES_ENV_VAR = "LEAGUE_CALENDAR_OVERRIDES"

_ONE_DAY = timedelta(days=1)
_OVERRIDE_LINE = re.compile(r"(\d{4}-\d{2}-\d{2})\s+(\S+)")
_OVERRIDE_WORDS = {"work": True, "off": False}

# Only a year that has at least one published holiday is "known": the package itself
# validates against the min/max of this dict, and a year with no entry at all would
# otherwise silently look like plain weekdays.
_PACKAGE_YEARS: frozenset[int] = frozenset(d.year for d in chinese_calendar.holidays)


class WorkingDayCalendar:
    """Decides which dates are working days; operator overrides beat the package.

    For a year the package has no data for (and no override for that date), Mon–Fri
    counts as working and Sat/Sun as off. That guess ignores holidays, so
    ``is_known`` / ``fallback_years`` exist to make the gap visible to operators,
    who can then supply overrides for that year.
    """

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        checked: dict[date, bool] = {}
        for day, working in (overrides or {}).items():
            checked[_require_date(day)] = bool(working)
        self._overrides: Mapping[date, bool] = MappingProxyType(checked)
        self._fallback_years: set[int] = set()
        self._days: dict[date, bool] = {}

    @property
    def overrides(self) -> Mapping[date, bool]:
        return self._overrides

    @staticmethod
    def known_years() -> frozenset[int]:
        """Years for which the installed ``chinese_calendar`` package has official data."""
        return _PACKAGE_YEARS

    @staticmethod
    def is_known(year: int) -> bool:
        return year in _PACKAGE_YEARS

    def fallback_years(self) -> frozenset[int]:
        """Years for which this calendar has so far had to guess (weekday rule) at least once."""
        return frozenset(self._fallback_years)

    def is_working_day(self, d: date) -> bool:
        d = _require_date(d)
        # Deadlines over many records ask the same days again and again; the package's look-up
        # costs far more than a dict.
        known = self._days.get(d)
        if known is None:
            known = self._days[d] = self._compute_working_day(d)
        return known

    def _compute_working_day(self, d: date) -> bool:
        override = self._overrides.get(d)
        if override is not None:
            return override
        if d.year in _PACKAGE_YEARS:
            try:
                return bool(chinese_calendar.is_workday(d))
            except NotImplementedError:
                # Should the package's range check ever disagree with _PACKAGE_YEARS, a
                # deadline computation must still not crash: fall through to the weekday rule.
                pass
        self._fallback_years.add(d.year)
        return d.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        """Return the n-th working day after ``start`` (``start`` itself is never counted).

        "Within 5 working days of X" is ``add_working_days(X, 5)``; ``n == 0`` returns
        ``start`` unchanged even when ``start`` is a day off.
        """
        start = _require_date(start)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        current = start
        remaining = n
        while remaining > 0:
            current += _ONE_DAY
            if self.is_working_day(current):
                remaining -= 1
        return current

    def last_start_overdue_on(self, day: date, n: int) -> date:
        """The latest day X whose "within n working days of X" has passed on ``day``: whatever
        started on X or before is overdue on ``day``, whatever started after is not yet."""
        start = _require_date(day) - _ONE_DAY
        while self.add_working_days(start, n) >= day:
            start -= _ONE_DAY
        return start

    def working_days_between(self, start: date, end: date) -> int:
        """Count working days d with ``start < d <= end``; 0 when ``end <= start``."""
        start = _require_date(start)
        end = _require_date(end)
        count = 0
        current = start + _ONE_DAY
        while current <= end:
            if self.is_working_day(current):
                count += 1
            current += _ONE_DAY
        return count

    @classmethod
    def from_override_lines(cls, lines: Iterable[str]) -> WorkingDayCalendar:
        """Build a calendar from override lines: ``YYYY-MM-DD work`` or ``YYYY-MM-DD off``.

        ``#`` starts a comment (whole line or trailing); blank lines are ignored. A line
        that does not parse, or that contradicts an earlier line for the same date,
        raises ValueError naming its 1-based line number.
        """
        return cls(_parse_override_lines(lines))

    @classmethod
    def load_overrides(cls, path: str | os.PathLike[str]) -> WorkingDayCalendar:
        """Build a calendar from an override file (UTF-8, format of ``from_override_lines``)."""
        file_path = Path(path)
        text = file_path.read_text(encoding="utf-8")
        try:
            return cls.from_override_lines(text.splitlines())
        except ValueError as exc:
            raise ValueError(f"{file_path}: {exc}") from exc


def _parse_override_lines(lines: Iterable[str]) -> dict[date, bool]:
    parsed: dict[date, bool] = {}
    for line_no, raw in enumerate(lines, start=1):
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        match = _OVERRIDE_LINE.fullmatch(content)
        if match is None:
            raise ValueError(
                f"line {line_no}: expected 'YYYY-MM-DD work' or 'YYYY-MM-DD off', got {raw!r}"
            )
        day_text, word = match.groups()
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise ValueError(f"line {line_no}: invalid date {day_text!r}") from None
        working = _OVERRIDE_WORDS.get(word.lower())
        if working is None:
            raise ValueError(f"line {line_no}: expected 'work' or 'off', got {word!r}")
        if parsed.get(day, working) != working:
            raise ValueError(f"line {line_no}: {day_text} contradicts an earlier line")
        parsed[day] = working
    return parsed


def _require_date(value: object) -> date:
    # datetime is a date subclass but never equals a date key, so it would silently
    # miss overrides and leak datetimes into deadlines; make the caller choose.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a datetime.date, got {type(value).__name__}")
    return value


@functools.lru_cache(maxsize=1)
def default_calendar() -> WorkingDayCalendar:
    """The process-wide calendar, with overrides from ``$LEAGUE_CALENDAR_OVERRIDES`` if set.

    Cached: a changed override file needs a restart (or ``default_calendar.cache_clear()``).
    """
    path = os.environ.get(OVERRIDES_ENV_VAR, "").strip()
    if not path:
        return WorkingDayCalendar()
    return WorkingDayCalendar.load_overrides(path)


# Times are stored in UTC and shown, and counted in days, in Beijing time.
BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_today() -> date:
    """The date in mainland China now: the day deadlines count from."""
    return datetime.now(BEIJING).date()
