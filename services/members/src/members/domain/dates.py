"""Dates from hand-filled Excel sheets: forgiving about form, never guessing about meaning."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta

from members.domain.text import clean, halfwidth

EARLIEST_YEAR = 1900
LATEST_YEAR = 2100

_EXAMPLE_ZH = "请写成 2019-05-04 这样的完整日期"
_EXAMPLE_EN = "write a full date like 2019-05-04"

# Excel's 1900 system counts 1900-01-01 as serial 1 and, copying a Lotus 1-2-3 bug, has a
# 1900-02-29 at serial 60; from 61 on, serial n is 1899-12-30 + n days.
_EXCEL_1900_BUG = 60
_EXCEL_1900_BEFORE_BUG = date(1899, 12, 31)
_EXCEL_1900_AFTER_BUG = date(1899, 12, 30)
_EXCEL_1904 = date(1904, 1, 1)
# 2100-12-31 in either system; anything larger cannot become an accepted date.
_LARGEST_SERIAL = (date(LATEST_YEAR, 12, 31) - _EXCEL_1900_AFTER_BUG).days

_YMD = re.compile(
    r"(?P<year>\d{4})\s*(?P<sep>[-/.])\s*(?P<month>\d{1,2})\s*(?P=sep)\s*(?P<day>\d{1,2})"
    # CSV exports of date cells carry a time ("2019-05-04 00:00:00"); the day is still clear.
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?"
)
_YMD_ZH = re.compile(r"(?P<year>\d{4})\s*年\s*(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号]?")
_EIGHT_DIGITS = re.compile(r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})")
_YEAR_MONTH = re.compile(r"\d{4}\s*[-/.]\s*\d{1,2}|\d{4}\s*年\s*\d{1,2}\s*月?")
_YEAR_ONLY = re.compile(r"\d{4}\s*年?")
_THREE_NUMBERS = re.compile(r"(\d+)\s*([-/.])\s*(\d+)\s*\2\s*(\d+)")
_SHORT_YEAR_ZH = re.compile(r"\d{2}\s*年.*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


class InvalidDate(ValueError):
    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def parse_date(value: object, *, date1904: bool = False) -> date:
    if isinstance(value, datetime):
        return _in_range(value.date())
    if isinstance(value, date):
        return _in_range(value)
    if isinstance(value, time):
        raise InvalidDate(
            f"只有时间没有日期；{_EXAMPLE_ZH}", f"This is a time of day, not a date; {_EXAMPLE_EN}"
        )
    # bool is an int, but a TRUE/FALSE cell is never a date.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_serial(value, date1904)
    if isinstance(value, str):
        return _from_text(value)
    raise InvalidDate(f"无法识别的日期；{_EXAMPLE_ZH}", f"Not a recognisable date; {_EXAMPLE_EN}")


def _from_serial(serial: int | float, date1904: bool) -> date:
    if isinstance(serial, float) and not math.isfinite(serial):
        raise InvalidDate(
            f"无法识别的日期；{_EXAMPLE_ZH}", f"Not a recognisable date; {_EXAMPLE_EN}"
        )
    if EARLIEST_YEAR <= serial < LATEST_YEAR + 1:
        # A year (2019) or year.month (2019.05) typed into a numeric cell would otherwise pass
        # as a serial of a day in 1905: no league record is that old, a typed year is likely.
        raise InvalidDate(
            f"“{serial:g}”像是年份或年月而不是日期：{_EXAMPLE_ZH}",
            f"{serial:g} looks like a year or year.month, not a date: {_EXAMPLE_EN}",
        )
    if 10_000_000 <= serial <= 99_999_999 and float(serial).is_integer():
        # 20190504 typed into a numeric cell: far beyond any serial, so it can only be the
        # eight-digit form that is accepted as text.
        return _from_text(str(int(serial)))
    # The fraction of a serial is the time of day; the day itself is the integer part.
    days = math.floor(serial)
    if days < 0 or days > _LARGEST_SERIAL:
        raise _out_of_range()
    if date1904:
        return _in_range(_EXCEL_1904 + timedelta(days=days))
    if days == 0:
        # Serial 0 is Excel's "1900-01-00": what a cell holding only a time shows as its date.
        raise InvalidDate(
            f"单元格里只有时间没有日期；{_EXAMPLE_ZH}",
            f"The cell holds a time of day but no date; {_EXAMPLE_EN}",
        )
    if days == _EXCEL_1900_BUG:
        raise InvalidDate(
            "1900-02-29 并不存在（Excel 的历史错误）；请填写正确的日期",
            "1900-02-29 does not exist (an old Excel bug); enter the correct date",
        )
    if days < _EXCEL_1900_BUG:
        return _in_range(_EXCEL_1900_BEFORE_BUG + timedelta(days=days))
    return _in_range(_EXCEL_1900_AFTER_BUG + timedelta(days=days))


def _from_text(raw: str) -> date:
    text = halfwidth(clean(raw))
    if not text:
        raise InvalidDate(f"日期为空；{_EXAMPLE_ZH}", f"The date is empty; {_EXAMPLE_EN}")
    for pattern in (_YMD, _YMD_ZH, _EIGHT_DIGITS):
        if match := pattern.fullmatch(text):
            return _real_date(int(match["year"]), int(match["month"]), int(match["day"]))
    raise _why_not(text)


def _why_not(text: str) -> InvalidDate:
    """The most useful explanation of a text that is not a full year-first date."""
    if _YEAR_MONTH.fullmatch(text):
        return InvalidDate(f"缺少日：{_EXAMPLE_ZH}", f"The day is missing: {_EXAMPLE_EN}")
    if _YEAR_ONLY.fullmatch(text):
        return InvalidDate(
            f"缺少月和日：{_EXAMPLE_ZH}", f"The month and day are missing: {_EXAMPLE_EN}"
        )
    if match := _THREE_NUMBERS.fullmatch(text):
        first, _, _, last = match.groups()
        if len(first) <= 2 and len(last) == 4:
            # 04/05/2019 is 4 May in China and Europe and 5 April in the US: nobody can tell.
            return InvalidDate(
                f"无法确定是“日/月/年”还是“月/日/年”：{_EXAMPLE_ZH}（年在前）",
                f"Day-first or month-first cannot be told apart: {_EXAMPLE_EN} (year first)",
            )
        if len(first) <= 2 and len(last) <= 2:
            return InvalidDate(
                f"年份只有两位，无法确定年代和顺序：{_EXAMPLE_ZH}（四位年份）",
                f"A two-digit year leaves the century and the order unclear: {_EXAMPLE_EN}",
            )
    if _SHORT_YEAR_ZH.fullmatch(text):
        return InvalidDate(
            f"年份只有两位，无法确定年代：{_EXAMPLE_ZH}（四位年份）",
            f"A two-digit year leaves the century unclear: {_EXAMPLE_EN}",
        )
    if _NUMBER.fullmatch(text):
        # A serial typed or exported as text may come from either date system, or be no date.
        return InvalidDate(
            f"“{text}”是一个数字而不是日期（可能是 Excel 的日期序号，无法确定）：{_EXAMPLE_ZH}",
            f"{text!r} is a number, not a date (perhaps an Excel serial, which is ambiguous): "
            f"{_EXAMPLE_EN}",
        )
    return InvalidDate(f"无法识别的日期：{_EXAMPLE_ZH}", f"Not a recognisable date: {_EXAMPLE_EN}")


def _real_date(year: int, month: int, day: int) -> date:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise _out_of_range()
    try:
        return date(year, month, day)
    except ValueError:
        written = f"{year:04d}-{month:02d}-{day:02d}"
        raise InvalidDate(
            f"日期 {written} 不存在，请核对月和日",
            f"There is no date {written}; check month and day",
        ) from None


def _in_range(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise _out_of_range()
    return value


def _out_of_range() -> InvalidDate:
    return InvalidDate(
        f"年份应在 {EARLIEST_YEAR} 至 {LATEST_YEAR} 之间",
        f"The year must be between {EARLIEST_YEAR} and {LATEST_YEAR}",
    )
