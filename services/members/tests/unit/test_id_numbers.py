"""Resident ID numbers: the GB 11643 checksum catches every single typo, dates and gender inside."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from members.domain.id_numbers import (
    IdNumber,
    InvalidIdNumber,
    check_character,
    mask,
    mismatch,
    parse_id_number,
)

TODAY = date(2026, 3, 1)
DIGITS = "0123456789"


def make_id(region: str, born: date, sequence: str) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence}"
    return first17 + check_character(first17)


valid_ids = st.builds(
    make_id,
    st.text(DIGITS, min_size=6, max_size=6),
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.text(DIGITS, min_size=3, max_size=3),
)


@given(valid_ids)
def test_every_well_formed_id_number_parses_with_its_birth_date_and_gender(value: str) -> None:
    parsed = parse_id_number(value, TODAY)
    assert parsed.value == value
    assert parsed.birth_date == date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    assert parsed.gender == ("male" if int(value[16]) % 2 else "female")


@given(valid_ids, st.integers(0, 17), st.data())
def test_any_single_changed_character_is_refused(
    value: str, position: int, data: st.DataObject
) -> None:
    allowed = DIGITS + "X" if position == 17 else DIGITS
    other = data.draw(st.sampled_from([c for c in allowed if c != value[position]]))
    typo = value[:position] + other + value[position + 1 :]
    with pytest.raises(InvalidIdNumber) as error:
        parse_id_number(typo, TODAY)
    assert error.value.reason_code in ("checksum", "birth_date")


@given(valid_ids)
def test_masking_shows_only_the_first_three_and_last_four(value: str) -> None:
    masked = mask(value)
    assert masked == value[:3] + "*" * 11 + value[-4:]
    assert len(masked) == 18


def test_mask_hides_the_middle_eleven_characters() -> None:
    assert mask("110101199003071234") == "110***********1234"


def test_too_short_a_value_to_mask_in_the_usual_way_is_hidden_entirely() -> None:
    assert mask("1234567") == "*******"


def test_the_check_characters_of_the_standards_own_examples() -> None:
    # The worked examples printed in GB 11643-1999, not anyone's number.
    assert check_character("11010519491231002") == "X"
    assert check_character("44052418800101001") == "4"


def test_a_constructed_number_yields_its_date_and_gender() -> None:
    value = make_id("110105", date(2008, 2, 29), "124")  # 17th digit 4: a woman
    assert parse_id_number(value, TODAY) == IdNumber(value, date(2008, 2, 29), "female")
    value = make_id("440524", date(2010, 12, 31), "017")
    assert parse_id_number(value, TODAY).gender == "male"


def test_lower_case_x_full_width_digits_and_spaces_are_normalised() -> None:
    assert parse_id_number(" 11010519491231002x\u3000", TODAY).value == "11010519491231002X"
    assert (
        parse_id_number("１１０１０５１９４９１２３１００２Ｘ", TODAY).value == "11010519491231002X"
    )
    assert parse_id_number("110105 19491231 002X", TODAY).value == "11010519491231002X"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("11010519491231002", "length"),
        ("11010519491231002X1", "length"),
        ("", "length"),
        ("1101051949123100AX", "characters"),
        ("11010519491231002Y", "characters"),
        ("X10105194912310021", "characters"),
        ("110105194912310021", "checksum"),
    ],
)
def test_malformed_numbers_are_refused_with_their_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdNumber) as error:
        parse_id_number(text, TODAY)
    assert error.value.reason_code == reason
    assert error.value.message_zh and error.value.message_en


@pytest.mark.parametrize(
    "first17",
    [
        "11010520190230001",  # 30 February
        "11010520191301001",  # month 13
        "11010518991231001",  # before 1900
        "11010520260302001",  # after today
    ],
)
def test_an_impossible_birth_date_is_refused(first17: str) -> None:
    with pytest.raises(InvalidIdNumber) as error:
        parse_id_number(first17 + check_character(first17), TODAY)
    assert error.value.reason_code == "birth_date"


def test_someone_born_today_is_accepted() -> None:
    assert parse_id_number(make_id("110105", TODAY, "001"), TODAY).birth_date == TODAY


def test_check_character_needs_seventeen_digits() -> None:
    with pytest.raises(ValueError):
        check_character("1101051949123100")
    with pytest.raises(ValueError):
        check_character("１１０１０５１９４９１２３１００２")


def test_mismatch_names_the_fields_that_disagree_with_the_number() -> None:
    parsed = parse_id_number(make_id("110105", date(2005, 6, 1), "123"), TODAY)
    assert mismatch(parsed, date(2005, 6, 1), "male") == []
    assert mismatch(parsed, date(2005, 1, 6), "male") == ["birth_date"]
    assert mismatch(parsed, date(2005, 6, 1), "female") == ["gender"]
    assert mismatch(parsed, date(2005, 1, 6), "female") == ["birth_date", "gender"]
