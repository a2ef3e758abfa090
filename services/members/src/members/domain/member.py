"""The rules of a member record (团员信息): what each field must hold and how the fields agree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from members.domain.dates import InvalidDate, parse_date
from members.domain.ethnicity import InvalidEthnicity, normalise_ethnicity
from members.domain.id_numbers import IdNumber, InvalidIdNumber, mismatch, parse_id_number
from members.domain.text import clean, halfwidth, is_blank

Gender = Literal["male", "female"]

# The League Constitution admits young people from their fourteenth birthday (年满十四周岁).
MIN_JOINING_AGE = 14
NAME_MAX = 50
PLACE_MAX = 100
EMPLOYER_MAX = 100
EMAIL_MAX = 254

FIELD_REQUIRED = "member.field_required"
FIELD_INVALID = "member.field_invalid"
ID_NUMBER_INVALID = "member.id_number_invalid"
ID_NUMBER_MISMATCH = "member.id_number_mismatch"
ID_NUMBER_AS_NUMBER = "member.id_number_as_number"
TOO_YOUNG_TO_JOIN = "member.too_young_to_join"

_GENDERS: dict[str, Gender] = {
    "male": "male",
    "m": "male",
    "男": "male",
    "男性": "male",
    "female": "female",
    "f": "female",
    "女": "female",
    "女性": "female",
}
_GENDER_ZH = {"male": "男", "female": "女"}
_MOBILE = re.compile(r"1[3-9]\d{9}")
_PHONE_SEPARATORS = re.compile(r"[\s\-]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
# Unicode's control characters (category Cc): C0, DEL and C1.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What Excel or a CSV export makes of a long number: 1.10101E+17, 110101199003071000.0
_NUMBER_LOOK = re.compile(r"\d+(?:\.\d*)?[eE][-+]?\d+|\d+\.\d*")


class InvalidField(ValueError):
    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en


@dataclass(frozen=True)
class MemberFields:
    name: str
    gender: Gender
    ethnicity: str
    birth_date: date
    id_number: str
    joined_on: date
    joined_place: str
    phone: str | None
    email: str | None
    employer: str | None


@dataclass(frozen=True)
class FieldProblem:
    field: str
    code: str
    message_zh: str
    message_en: str


def parse_gender(text: str) -> Gender:
    gender = _GENDERS.get(clean(text).lower())
    if gender is None:
        raise InvalidField(
            FIELD_INVALID, "性别应填“男”或“女”", "Gender must be 男 or 女 (male or female)"
        )
    return gender


def age_on(birth: date, on: date) -> int:
    """Full years; a birthday counts from the day itself (29 February ones from 1 March)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def validate_member(
    raw: Mapping[str, object], today: date, *, date1904: bool = False
) -> tuple[MemberFields | None, list[FieldProblem]]:
    """Every problem of the record at once, so a sheet is fixed in one pass, not row by row."""
    check = _Check(raw, date1904)
    name = check.text("name", NAME_MAX, required=True)
    gender = check.gender()
    ethnicity = check.ethnicity()
    birth_date = check.date_field("birth_date")
    id_number = check.id_number(today)
    joined_on = check.date_field("joined_on")
    joined_place = check.text("joined_place", PLACE_MAX, required=True)
    phone = check.phone()
    email = check.email()
    employer = check.text("employer", EMPLOYER_MAX, required=False)

    if birth_date is not None and birth_date > today:
        check.invalid(
            "birth_date", "出生日期不能晚于今天", "The birth date cannot be in the future"
        )
    if joined_on is not None and joined_on > today:
        check.invalid(
            "joined_on", "入团时间不能晚于今天", "The joining date cannot be in the future"
        )
    if id_number is not None:
        check.agrees_with_id_number(id_number, birth_date, gender)
    # When the birth date cell is unusable the ID number still knows the age.
    born = birth_date or (id_number.birth_date if id_number else None)
    if born is not None and joined_on is not None and age_on(born, joined_on) < MIN_JOINING_AGE:
        check.problem(
            "joined_on",
            TOO_YOUNG_TO_JOIN,
            f"入团时须年满 {MIN_JOINING_AGE} 周岁；按出生日期 {born.isoformat()}，"
            f"入团时只有 {max(age_on(born, joined_on), 0)} 岁",
            f"A member must be at least {MIN_JOINING_AGE} when joining; born {born.isoformat()}, "
            f"they were {max(age_on(born, joined_on), 0)}",
        )

    if check.problems:
        return None, check.problems
    # Every required value is known here: a missing one would have left a problem.
    assert name and gender and ethnicity and birth_date and id_number and joined_on
    assert joined_place
    fields = MemberFields(
        name=name,
        gender=gender,
        ethnicity=ethnicity,
        birth_date=birth_date,
        id_number=id_number.value,
        joined_on=joined_on,
        joined_place=joined_place,
        phone=phone,
        email=email,
        employer=employer,
    )
    return fields, []


class _Check:
    """Reads one field at a time from the raw record and collects what is wrong with it."""

    def __init__(self, raw: Mapping[str, object], date1904: bool) -> None:
        self.raw = raw
        self.date1904 = date1904
        self.problems: list[FieldProblem] = []

    def problem(self, field: str, code: str, message_zh: str, message_en: str) -> None:
        self.problems.append(FieldProblem(field, code, message_zh, message_en))

    def invalid(self, field: str, message_zh: str, message_en: str) -> None:
        self.problem(field, FIELD_INVALID, message_zh, message_en)

    def present(self, field: str) -> object | None:
        """The raw value, or None after recording that a required value is missing."""
        value = self.raw.get(field)
        if is_blank(value):
            self.problem(field, FIELD_REQUIRED, "必填，不能为空", "Required; must not be empty")
            return None
        return value

    def text(self, field: str, max_length: int, *, required: bool) -> str | None:
        value = self.present(field) if required else self.raw.get(field)
        if is_blank(value):
            return None
        # A name such as 360 or 58同城 typed into a General cell comes back as a number.
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.invalid(field, "应为文字", "Must be text")
            return None
        text = clean(value)
        if len(text) > max_length:
            self.invalid(
                field,
                f"最多 {max_length} 个字，这里有 {len(text)} 个",
                f"At most {max_length} characters; this has {len(text)}",
            )
            return None
        if _CONTROL.search(text):
            self.invalid(
                field,
                "包含换行或其他控制字符，请删除",
                "Contains a line break or another control character; remove it",
            )
            return None
        return text

    def gender(self) -> Gender | None:
        value = self.present("gender")
        if value is None:
            return None
        try:
            return parse_gender(value if isinstance(value, str) else "")
        except InvalidField as e:
            self.problem("gender", e.code, e.message_zh, e.message_en)
            return None

    def ethnicity(self) -> str | None:
        value = self.present("ethnicity")
        if value is None:
            return None
        # The code "01" typed into a numeric cell arrives as 1: Excel dropped the leading zero.
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:02d}"
        try:
            return normalise_ethnicity(value if isinstance(value, str) else "?")
        except InvalidEthnicity as e:
            self.invalid("ethnicity", e.message_zh, e.message_en)
            return None

    def date_field(self, field: str) -> date | None:
        value = self.present(field)
        if value is None:
            return None
        try:
            return parse_date(value, date1904=self.date1904)
        except InvalidDate as e:
            self.invalid(field, e.message_zh, e.message_en)
            return None

    def id_number(self, today: date) -> IdNumber | None:
        value = self.present("id_number")
        if value is None:
            return None
        # Excel keeps 15 significant digits: an ID number that went through a numeric cell has
        # lost its tail (and any X) for good, so nothing can be recovered from it.
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric or (isinstance(value, str) and _NUMBER_LOOK.fullmatch(halfwidth(clean(value)))):
            self.problem(
                "id_number",
                ID_NUMBER_AS_NUMBER,
                "身份证号被 Excel 存成了数字，末尾几位已丢失；请把该列设置为文本格式后重新输入",
                "The ID number was stored as a number by Excel and its last digits are lost; "
                "format the column as text and type it again.",
            )
            return None
        if not isinstance(value, str):
            self.problem("id_number", ID_NUMBER_INVALID, "应为文字", "Must be text")
            return None
        try:
            return parse_id_number(value, today)
        except InvalidIdNumber as e:
            self.problem("id_number", ID_NUMBER_INVALID, e.message_zh, e.message_en)
            return None

    def agrees_with_id_number(
        self, id_number: IdNumber, birth_date: date | None, gender: Gender | None
    ) -> None:
        # A field that could not be read is compared as the ID number's own value: no mismatch.
        wrong = mismatch(id_number, birth_date or id_number.birth_date, gender or id_number.gender)
        if "birth_date" in wrong:
            says = id_number.birth_date.isoformat()
            self.problem(
                "birth_date",
                ID_NUMBER_MISMATCH,
                f"出生日期与身份证号不符：身份证号显示出生日期为 {says}",
                f"The birth date disagrees with the ID number, which says {says}",
            )
        if "gender" in wrong:
            self.problem(
                "gender",
                ID_NUMBER_MISMATCH,
                f"性别与身份证号不符：身份证号显示性别为{_GENDER_ZH[id_number.gender]}",
                f"The gender disagrees with the ID number, which says {id_number.gender}",
            )

    def phone(self) -> str | None:
        value = self.raw.get("phone")
        if is_blank(value):
            return None
        # Excel stores a typed mobile number as a number; 11 digits survive that intact.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, str):
            text = _PHONE_SEPARATORS.sub("", halfwidth(clean(value))).removeprefix("+86")
        else:
            text = ""
        if not _MOBILE.fullmatch(text):
            self.invalid(
                "phone",
                "手机号应为 11 位中国大陆手机号，如 13812345678",
                "The phone must be an 11-digit mainland mobile number such as 13812345678",
            )
            return None
        return text

    def email(self) -> str | None:
        value = self.raw.get("email")
        if is_blank(value):
            return None
        text = clean(value) if isinstance(value, str) else ""
        if len(text) > EMAIL_MAX or not _EMAIL.fullmatch(text):
            self.invalid(
                "email",
                "电子邮箱格式不正确，如 name@example.com",
                "Not a valid e-mail address, such as name@example.com",
            )
            return None
        return text
