from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.calendar import OVERRIDES_ENV_VAR, WorkingDayCalendar, default_calendar

CAL = WorkingDayCalendar()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# Official 2025/2026 arrangements (国务院办公厅通知), cross-checked against chinesecalendar 1.11.
HOLIDAY_BLOCKS = [
    pytest.param(date(2025, 1, 28), date(2025, 2, 4), id="2025-spring-festival"),
    pytest.param(date(2025, 10, 1), date(2025, 10, 8), id="2025-national-day"),
    pytest.param(date(2026, 2, 15), date(2026, 2, 23), id="2026-spring-festival"),
    pytest.param(date(2026, 10, 1), date(2026, 10, 7), id="2026-national-day"),
]

MAKE_UP_DAYS = [
    pytest.param(date(2025, 1, 26), id="2025-01-26-sun"),
    pytest.param(date(2025, 2, 8), id="2025-02-08-sat"),
    pytest.param(date(2025, 9, 28), id="2025-09-28-sun"),
    pytest.param(date(2025, 10, 11), id="2025-10-11-sat"),
    pytest.param(date(2026, 2, 14), id="2026-02-14-sat"),
    pytest.param(date(2026, 2, 28), id="2026-02-28-sat"),
    pytest.param(date(2026, 9, 20), id="2026-09-20-sun"),
    pytest.param(date(2026, 10, 10), id="2026-10-10-sat"),
]


@pytest.mark.parametrize(("first", "last"), HOLIDAY_BLOCKS)
def test_statutory_holiday_blocks_are_off_and_bounded_by_working_days(
    first: date, last: date
) -> None:
    for day in _days(first, last):
        assert not CAL.is_working_day(day), day
    # The block is exactly as long as listed: the weekday straight after it is back to work.
    assert CAL.is_working_day(last + timedelta(days=1))


@pytest.mark.parametrize("day", MAKE_UP_DAYS)
def test_make_up_weekend_days_are_working_days(day: date) -> None:
    assert day.weekday() >= 5
    assert CAL.is_working_day(day)


def test_ordinary_weekdays_and_weekends() -> None:
    assert CAL.is_working_day(date(2025, 3, 12))  # Wednesday
    assert not CAL.is_working_day(date(2025, 3, 15))  # Saturday
    assert not CAL.is_working_day(date(2025, 3, 16))  # Sunday


def test_add_working_days_skips_spring_festival() -> None:
    # Mon 2025-01-27 is the last working day before the break; next is Wed 2025-02-05.
    assert CAL.add_working_days(date(2025, 1, 27), 1) == date(2025, 2, 5)


def test_add_working_days_counts_make_up_saturday() -> None:
    # Wed 02-05, Thu 02-06, Fri 02-07, then the make-up Sat 02-08 is the 4th working day.
    assert CAL.add_working_days(date(2025, 2, 4), 4) == date(2025, 2, 8)
    assert CAL.add_working_days(date(2025, 2, 7), 1) == date(2025, 2, 8)


def test_add_working_days_over_national_day_2025() -> None:
    # Sun 09-28 (make-up), Mon 09-29, Tue 09-30, then the break until Thu 10-09.
    assert CAL.add_working_days(date(2025, 9, 27), 4) == date(2025, 10, 9)


def test_add_working_days_zero_returns_start_even_on_a_day_off() -> None:
    assert CAL.add_working_days(date(2025, 1, 29), 0) == date(2025, 1, 29)


def test_add_working_days_rejects_negative_n() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        CAL.add_working_days(date(2025, 1, 27), -1)


def test_working_days_between() -> None:
    assert CAL.working_days_between(date(2025, 1, 27), date(2025, 2, 5)) == 1
    assert CAL.working_days_between(date(2025, 1, 27), date(2025, 2, 8)) == 4
    # Start excluded, end included.
    assert CAL.working_days_between(date(2025, 3, 10), date(2025, 3, 11)) == 1
    assert CAL.working_days_between(date(2025, 3, 10), date(2025, 3, 10)) == 0
    assert CAL.working_days_between(date(2025, 3, 11), date(2025, 3, 10)) == 0


def test_unknown_year_falls_back_to_weekdays_and_is_reported() -> None:
    calendar = WorkingDayCalendar()
    assert not calendar.is_known(2099)
    assert 2099 not in calendar.known_years()
    assert calendar.fallback_years() == frozenset()
    # 2099-01-01 is a Thursday: no holiday data, so a plain working day.
    assert calendar.is_working_day(date(2099, 1, 1))
    assert not calendar.is_working_day(date(2099, 1, 3))  # Saturday
    assert calendar.add_working_days(date(2099, 1, 2), 1) == date(2099, 1, 5)
    assert calendar.fallback_years() == frozenset({2099})


def test_known_years_cover_2025_and_2026() -> None:
    assert {2025, 2026} <= WorkingDayCalendar.known_years()
    assert WorkingDayCalendar.is_known(2025)


def test_overrides_win_over_the_package_and_the_fallback() -> None:
    calendar = WorkingDayCalendar(
        {
            date(2025, 1, 29): True,  # package: Spring Festival
            date(2025, 3, 12): False,  # package: ordinary Wednesday
            date(2099, 1, 1): False,  # fallback: Thursday
        }
    )
    assert calendar.is_working_day(date(2025, 1, 29))
    assert not calendar.is_working_day(date(2025, 3, 12))
    assert not calendar.is_working_day(date(2099, 1, 1))
    assert calendar.add_working_days(date(2025, 1, 27), 1) == date(2025, 1, 29)
    # A date answered by an override does not count as a guess.
    assert calendar.fallback_years() == frozenset()


def test_datetime_is_rejected() -> None:
    with pytest.raises(TypeError):
        CAL.is_working_day(datetime(2025, 1, 27, 9, 0))


def test_from_override_lines() -> None:
    calendar = WorkingDayCalendar.from_override_lines(
        [
            "# 2099 arrangement, entered by hand",
            "",
            "2099-01-01 off",
            "   2099-01-03   WORK   # make-up Saturday",
            "2099-01-01 off",  # an identical repeat is harmless
        ]
    )
    assert calendar.overrides == {date(2099, 1, 1): False, date(2099, 1, 3): True}
    assert not calendar.is_working_day(date(2099, 1, 1))
    assert calendar.is_working_day(date(2099, 1, 3))


@pytest.mark.parametrize(
    ("bad_line", "line_no"),
    [
        ("2099-01-01 holiday", 3),
        ("2099-13-01 off", 3),
        ("2099/01/01 off", 3),
        ("2099-01-01", 3),
        ("2099-01-01 off extra", 3),
        ("20990101 off", 3),
        ("2099-01-02 work", 3),  # contradicts line 2
    ],
)
def test_bad_override_line_names_its_line_number(bad_line: str, line_no: int) -> None:
    lines = ["# header", "2099-01-02 off", bad_line]
    with pytest.raises(ValueError, match=rf"line {line_no}\b"):
        WorkingDayCalendar.from_override_lines(lines)


def test_load_overrides_from_file(tmp_path: Path) -> None:
    path = tmp_path / "overrides.txt"
    path.write_text("2025-03-12 off\n", encoding="utf-8")
    calendar = WorkingDayCalendar.load_overrides(path)
    assert not calendar.is_working_day(date(2025, 3, 12))


def test_load_overrides_bad_file_names_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "overrides.txt"
    path.write_text("2025-03-12 off\nnonsense\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"overrides\.txt: line 2"):
        WorkingDayCalendar.load_overrides(path)


@pytest.fixture
def fresh_default_calendar() -> Iterator[None]:
    default_calendar.cache_clear()
    yield
    default_calendar.cache_clear()


@pytest.mark.usefixtures("fresh_default_calendar")
def test_default_calendar_without_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OVERRIDES_ENV_VAR, raising=False)
    calendar = default_calendar()
    assert calendar.overrides == {}
    assert default_calendar() is calendar


@pytest.mark.usefixtures("fresh_default_calendar")
def test_default_calendar_reads_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "overrides.txt"
    path.write_text("2099-01-01 off\n", encoding="utf-8")
    monkeypatch.setenv(OVERRIDES_ENV_VAR, str(path))
    assert not default_calendar().is_working_day(date(2099, 1, 1))


# Spans the package's data, the fallback years beyond it, and the boundary between them.
_dates = st.dates(min_value=date(2004, 1, 1), max_value=date(2100, 12, 31))
_counts = st.integers(min_value=1, max_value=60)


@settings(max_examples=200, deadline=None)
@given(start=_dates, n=_counts)
def test_add_working_days_lands_on_a_working_day_after_start(start: date, n: int) -> None:
    result = CAL.add_working_days(start, n)
    assert result > start
    assert CAL.is_working_day(result)


@settings(max_examples=200, deadline=None)
@given(start=_dates, n=st.integers(min_value=0, max_value=60))
def test_working_days_between_inverts_add_working_days(start: date, n: int) -> None:
    assert CAL.working_days_between(start, CAL.add_working_days(start, n)) == n


@given(
    day=st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)),
    n=st.integers(min_value=1, max_value=15),
)
def test_what_started_by_the_last_overdue_start_is_overdue_and_nothing_after(
    day: date, n: int
) -> None:
    start = CAL.last_start_overdue_on(day, n)
    assert CAL.add_working_days(start, n) < day
    assert CAL.add_working_days(start + timedelta(days=1), n) >= day


def test_money_received_before_national_day_is_overdue_only_after_the_holiday() -> None:
    # Received Friday 26 Sep 2025: five working days are 28 Sep (a make-up Sunday), 29 and 30
    # Sep, then after the holiday 9 and 10 Oct; late from 11 Oct, as is the Saturday's money.
    assert CAL.add_working_days(date(2025, 9, 26), 5) == date(2025, 10, 10)
    assert CAL.last_start_overdue_on(date(2025, 10, 11), 5) == date(2025, 9, 27)
    assert CAL.last_start_overdue_on(date(2025, 10, 10), 5) == date(2025, 9, 25)
