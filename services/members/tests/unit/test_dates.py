"""Dates from hand-filled sheets: every unambiguous form is read, everything else is refused."""

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from members.domain.dates import InvalidDate, parse_date

MAY_4 = date(2019, 5, 4)


@pytest.mark.parametrize(
    "text",
    [
        "2019-05-04",
        "2019-5-4",
        "2019/5/4",
        "2019/05/04",
        "2019.5.4",
        "2019.05.04",
        "2019年5月4日",
        "2019年05月04日",
        "2019年5月4号",
        "20190504",
        "  2019-05-04\u3000",
        "２０１９-０５-０４",
        "２０１９年５月４日",
        "2019／5／4",
        "2019-05-04 00:00:00",
    ],
)
def test_year_first_full_dates_are_read(text: str) -> None:
    assert parse_date(text) == MAY_4


def test_date_and_datetime_cells_give_their_day() -> None:
    assert parse_date(MAY_4) == MAY_4
    assert parse_date(datetime(2019, 5, 4, 13, 30)) == MAY_4


def test_excel_serials_in_the_1900_system() -> None:
    assert parse_date(43589) == MAY_4
    assert parse_date(43589.0) == MAY_4
    assert parse_date(1) == date(1900, 1, 1)
    assert parse_date(59) == date(1900, 2, 28)
    assert parse_date(61) == date(1900, 3, 1)


def test_a_serial_with_a_time_of_day_gives_its_day() -> None:
    assert parse_date(43589.75) == MAY_4
    assert parse_date(43589.999) == MAY_4


def test_excels_fictitious_29_february_1900_is_refused() -> None:
    with pytest.raises(InvalidDate, match="1900-02-29"):
        parse_date(60)


def test_excel_serials_in_the_1904_system() -> None:
    assert parse_date(0, date1904=True) == date(1904, 1, 1)
    assert parse_date(43589 - 1462, date1904=True) == MAY_4


def serial(day: date) -> int:
    return (day - date(1899, 12, 30)).days


# Serials 1900..2100 are refused as typed years; they are days in 1905 nobody needs.
@given(
    st.dates(min_value=date(1900, 3, 1), max_value=date(2100, 12, 31)).filter(
        lambda day: not 1900 <= serial(day) <= 2100
    )
)
def test_serials_from_march_1900_count_from_30_december_1899(day: date) -> None:
    assert parse_date(serial(day)) == day


def test_an_eight_digit_number_from_a_numeric_cell_is_read_as_year_month_day() -> None:
    assert parse_date(20190504) == MAY_4


@pytest.mark.parametrize("value", ["43589", "43589.0", " 43589 "])
def test_a_serial_written_as_text_is_refused_as_ambiguous(value: str) -> None:
    with pytest.raises(InvalidDate) as error:
        parse_date(value)
    assert "数字" in error.value.message_zh and "serial" in error.value.message_en


@pytest.mark.parametrize("value", ["2019.05", "2019-05", "2019/5", "2019年5月", "2019年05月"])
def test_a_month_without_a_day_is_refused(value: str) -> None:
    with pytest.raises(InvalidDate) as error:
        parse_date(value)
    assert error.value.message_zh == "缺少日：请写成 2019-05-04 这样的完整日期"
    assert "day is missing" in error.value.message_en


@pytest.mark.parametrize("value", ["2019", "2019年"])
def test_a_year_alone_is_refused(value: str) -> None:
    with pytest.raises(InvalidDate, match="month and day are missing"):
        parse_date(value)


@pytest.mark.parametrize("value", [2019, 2019.05, 1990.3])
def test_a_year_typed_into_a_numeric_cell_is_not_taken_for_a_serial(value: float) -> None:
    # As serials these would be days in 1905.
    with pytest.raises(InvalidDate, match="looks like a year"):
        parse_date(value)


@pytest.mark.parametrize("value", ["19-5-4", "19/05/04", "19.5.4", "19年5月4日"])
def test_two_digit_years_are_refused(value: str) -> None:
    with pytest.raises(InvalidDate) as error:
        parse_date(value)
    assert "两位" in error.value.message_zh and "two-digit year" in error.value.message_en


@pytest.mark.parametrize("value", ["04/05/2019", "5/4/2019", "4-5-2019", "04.05.2019"])
def test_day_first_or_month_first_dates_are_refused_as_ambiguous(value: str) -> None:
    with pytest.raises(InvalidDate) as error:
        parse_date(value)
    assert "日/月/年" in error.value.message_zh and "cannot be told apart" in error.value.message_en


@pytest.mark.parametrize(
    "value", ["2019-02-30", "2019-13-01", "2019-00-10", "2019年4月31日", "20190230", 20190230]
)
def test_dates_that_do_not_exist_are_refused(value: object) -> None:
    with pytest.raises(InvalidDate, match="There is no date"):
        parse_date(value)


@pytest.mark.parametrize(
    "value", ["1899-12-31", "2101-01-01", date(1899, 12, 31), date(2101, 1, 1), 80000, -1]
)
def test_years_outside_1900_to_2100_are_refused(value: object) -> None:
    with pytest.raises(InvalidDate, match="between 1900 and 2100"):
        parse_date(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "May 4, 2019",
        "2019-05-04x",
        "2019-05/04",
        "五四",
        None,
        True,
        float("nan"),
        float("inf"),
        timedelta(days=1),
        time(12, 0),
        0,
    ],
)
def test_anything_else_is_refused_with_both_messages(value: object) -> None:
    with pytest.raises(InvalidDate) as error:
        parse_date(value)
    assert error.value.message_zh and error.value.message_en
