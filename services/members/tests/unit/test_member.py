"""A member record: every field checked, every problem reported at once, fields agree."""

from collections.abc import Mapping
from datetime import date, datetime

import pytest

from members.domain.id_numbers import check_character
from members.domain.member import (
    MIN_JOINING_AGE,
    FieldProblem,
    InvalidField,
    MemberFields,
    age_on,
    parse_gender,
    validate_member,
)

TODAY = date(2026, 3, 1)


def make_id(born: date, sequence: str = "123") -> str:
    first17 = f"110105{born:%Y%m%d}{sequence}"
    return first17 + check_character(first17)


# 3 is odd: a man's number.
ID_2005 = make_id(date(2005, 6, 1), "123")


def raw(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "name": "张三",
        "gender": "男",
        "ethnicity": "汉族",
        "birth_date": "2005-06-01",
        "id_number": ID_2005,
        "joined_on": "2020-05-04",
        "joined_place": "北京市第一中学团委",
        "phone": "138 1234 5678",
        "email": "zhang.san@example.com",
        "employer": "北京市第一中学",
    }
    record.update(changes)
    return record


def problems_of(record: Mapping[str, object]) -> list[tuple[str, str]]:
    fields, problems = validate_member(record, TODAY)
    assert (fields is None) == bool(problems)
    return [(p.field, p.code) for p in problems]


def test_a_complete_record_gives_normalised_fields() -> None:
    fields, problems = validate_member(raw(ethnicity="汉", id_number=ID_2005.lower()), TODAY)
    assert problems == []
    assert fields == MemberFields(
        name="张三",
        gender="male",
        ethnicity="汉族",
        birth_date=date(2005, 6, 1),
        id_number=ID_2005,
        joined_on=date(2020, 5, 4),
        joined_place="北京市第一中学团委",
        phone="13812345678",
        email="zhang.san@example.com",
        employer="北京市第一中学",
    )


def test_optional_fields_may_be_missing_or_blank() -> None:
    record = raw(phone=None, email="  ")
    del record["employer"]
    fields, problems = validate_member(record, TODAY)
    assert problems == []
    assert fields is not None and fields.phone is fields.email is fields.employer is None


def test_excel_cell_types_are_understood() -> None:
    fields, _ = validate_member(
        raw(birth_date=datetime(2005, 6, 1), joined_on=43955, phone=13812345678, ethnicity=1),
        TODAY,
    )
    assert fields is not None
    assert (fields.birth_date, fields.joined_on, fields.phone, fields.ethnicity) == (
        date(2005, 6, 1),
        date(2020, 5, 4),
        "13812345678",
        "汉族",
    )


def test_every_problem_is_reported_not_just_the_first() -> None:
    record = {
        "name": "",
        "gender": "未知",
        "ethnicity": "汉人",
        "birth_date": "2005-06",
        "id_number": ID_2005[:-1] + ("1" if ID_2005[-1] == "0" else "0"),
        "joined_on": "2099-01-01",
        "joined_place": None,
        "phone": "12345",
        "email": "not-an-email",
        "employer": "单" * 101,
    }
    assert problems_of(record) == [
        ("name", "member.field_required"),
        ("gender", "member.field_invalid"),
        ("ethnicity", "member.field_invalid"),
        ("birth_date", "member.field_invalid"),
        ("id_number", "member.id_number_invalid"),
        ("joined_place", "member.field_required"),
        ("phone", "member.field_invalid"),
        ("email", "member.field_invalid"),
        ("employer", "member.field_invalid"),
        ("joined_on", "member.field_invalid"),
    ]


def test_every_problem_carries_both_languages() -> None:
    _, problems = validate_member({}, TODAY)
    assert {p.field for p in problems} == {
        "name",
        "gender",
        "ethnicity",
        "birth_date",
        "id_number",
        "joined_on",
        "joined_place",
    }
    assert all(p.message_zh and p.message_en for p in problems)


def test_a_birth_date_and_gender_that_disagree_with_the_id_number_are_each_named() -> None:
    _, problems = validate_member(raw(birth_date="2005-01-06", gender="女"), TODAY)
    assert problems == [
        FieldProblem(
            "birth_date",
            "member.id_number_mismatch",
            "出生日期与身份证号不符：身份证号显示出生日期为 2005-06-01",
            "The birth date disagrees with the ID number, which says 2005-06-01",
        ),
        FieldProblem(
            "gender",
            "member.id_number_mismatch",
            "性别与身份证号不符：身份证号显示性别为男",
            "The gender disagrees with the ID number, which says male",
        ),
    ]


def test_an_unreadable_birth_date_is_not_also_reported_as_a_mismatch() -> None:
    assert problems_of(raw(birth_date="2005-06")) == [("birth_date", "member.field_invalid")]


@pytest.mark.parametrize(
    "value", [110105200506011230, 1.10105200506011e17, "1.10105E+17", "110105200506011234.0"]
)
def test_an_id_number_that_went_through_a_numeric_cell_is_refused_as_such(value: object) -> None:
    _, problems = validate_member(raw(id_number=value), TODAY)
    assert problems == [
        FieldProblem(
            "id_number",
            "member.id_number_as_number",
            "身份证号被 Excel 存成了数字，末尾几位已丢失；请把该列设置为文本格式后重新输入",
            "The ID number was stored as a number by Excel and its last digits are lost; "
            "format the column as text and type it again.",
        )
    ]


def test_even_an_18_digit_integer_is_refused_because_excel_cannot_have_kept_it() -> None:
    # Its check character would be X, which no number can hold; and Excel keeps 15 digits.
    x_id = make_id(date(2005, 6, 1), "002")
    assert x_id.endswith("X")
    assert problems_of(raw(id_number=int(x_id[:17] + "0"))) == [
        ("id_number", "member.id_number_as_number")
    ]


def test_joining_before_the_fourteenth_birthday_is_refused() -> None:
    assert problems_of(raw(joined_on="2019-05-31")) == [("joined_on", "member.too_young_to_join")]
    assert problems_of(raw(joined_on="2019-06-01")) == []


def test_the_id_number_gives_the_age_when_the_birth_date_cell_is_unusable() -> None:
    assert problems_of(raw(birth_date="六月", joined_on="2019-05-31")) == [
        ("birth_date", "member.field_invalid"),
        ("joined_on", "member.too_young_to_join"),
    ]


def test_a_birth_date_in_the_future_is_refused() -> None:
    later = date(2026, 6, 1)
    record = raw(birth_date=later.isoformat(), id_number=make_id(date(2005, 6, 1)))
    assert ("birth_date", "member.field_invalid") in problems_of(record)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("13812345678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        (19912345678, "19912345678"),
        (13812345678.0, "13812345678"),
    ],
)
def test_mainland_mobile_numbers_are_accepted_in_their_usual_spellings(
    value: object, stored: str
) -> None:
    fields, _ = validate_member(raw(phone=value), TODAY)
    assert fields is not None and fields.phone == stored


@pytest.mark.parametrize(
    "value", ["12812345678", "1381234567", "138123456789", "010-12345678", 1381234567, True, "86"]
)
def test_other_phone_numbers_are_refused(value: object) -> None:
    assert problems_of(raw(phone=value)) == [("phone", "member.field_invalid")]


@pytest.mark.parametrize("value", ["a@b", "a b@example.com", "@example.com", "a@@example.com", 5])
def test_malformed_email_addresses_are_refused(value: object) -> None:
    assert problems_of(raw(email=value)) == [("email", "member.field_invalid")]


def test_names_and_places_have_length_limits() -> None:
    assert problems_of(raw(name="名" * 50, joined_place="地" * 100, employer="单" * 100)) == []
    assert problems_of(raw(name="名" * 51, joined_place="地" * 101)) == [
        ("name", "member.field_invalid"),
        ("joined_place", "member.field_invalid"),
    ]


def test_names_are_stripped_and_may_not_hold_line_breaks() -> None:
    fields, _ = validate_member(raw(name="\u3000阿依古丽·买买提 "), TODAY)
    assert fields is not None and fields.name == "阿依古丽·买买提"
    assert problems_of(raw(name="张\n三")) == [("name", "member.field_invalid")]


def test_a_number_is_accepted_as_an_employer_name() -> None:
    fields, _ = validate_member(raw(employer=360), TODAY)
    assert fields is not None and fields.employer == "360"


@pytest.mark.parametrize(
    ("text", "gender"),
    [
        *[("male", "male"), ("Male", "male"), ("M", "male"), ("m", "male"), ("男", "male")],
        *[("female", "female"), ("FEMALE", "female"), ("F", "female"), (" 女 ", "female")],
    ],
)
def test_genders_are_read_in_either_language(text: str, gender: str) -> None:
    assert parse_gender(text) == gender


@pytest.mark.parametrize("text", ["", "x", "未知", "man", "其他"])
def test_other_genders_are_refused(text: str) -> None:
    with pytest.raises(InvalidField) as error:
        parse_gender(text)
    assert error.value.code == "member.field_invalid"


def test_age_counts_full_years_from_the_birthday_itself() -> None:
    assert MIN_JOINING_AGE == 14
    assert age_on(date(2005, 6, 1), date(2019, 5, 31)) == 13
    assert age_on(date(2005, 6, 1), date(2019, 6, 1)) == 14
    assert age_on(date(2004, 2, 29), date(2018, 2, 28)) == 13
    assert age_on(date(2004, 2, 29), date(2018, 3, 1)) == 14
    assert age_on(date(2004, 2, 29), date(2032, 2, 29)) == 28
