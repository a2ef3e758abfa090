"""Chinese resident ID numbers (公民身份号码, GB 11643-1999): checksum, birth date, gender, masking."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from members.domain.text import clean, halfwidth

IdReason = Literal["length", "characters", "checksum", "birth_date"]

# ISO 7064 MOD 11-2: weight i is 2^(17-i) mod 11, so no weight is 0 and every single wrong
# character changes the remainder.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
_EARLIEST_BIRTH = date(1900, 1, 1)
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# People copy ID numbers in groups ("110101 19900307 1234"); the spaces carry no meaning.
_SPACES = re.compile(r"\s+")


class InvalidIdNumber(ValueError):
    def __init__(self, reason_code: IdReason, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.reason_code: IdReason = reason_code
        self.message_zh = message_zh
        self.message_en = message_en


@dataclass(frozen=True)
class IdNumber:
    value: str
    birth_date: date
    gender: Literal["male", "female"]


def check_character(first17: str) -> str:
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"expected 17 ASCII digits, got {first17!r}")
    # map, not a generator: every row of an import checks one, and this is its hot loop.
    return _CHECK_CHARACTERS[sum(map(operator.mul, map(int, first17), _WEIGHTS)) % 11]


def parse_id_number(text: str, today: date) -> IdNumber:
    value = _SPACES.sub("", halfwidth(clean(text))).upper()
    if len(value) != 18:
        raise InvalidIdNumber(
            "length",
            f"身份证号应为 18 位，这里是 {len(value)} 位",
            f"An ID number has 18 characters; this one has {len(value)}",
        )
    if not _SHAPE.fullmatch(value):
        raise InvalidIdNumber(
            "characters",
            "身份证号前 17 位应为数字，最后一位为数字或 X",
            "The first 17 characters of an ID number are digits and the last is a digit or X",
        )
    if check_character(value[:17]) != value[17]:
        raise InvalidIdNumber(
            "checksum",
            "身份证号校验位不符，请逐位核对是否抄错",
            "The ID number's check character does not match; a character is probably mistyped",
        )
    birth_date = _birth_date(value[6:14], today)
    return IdNumber(value, birth_date, "male" if int(value[16]) % 2 == 1 else "female")


def _birth_date(digits: str, today: date) -> date:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        born = None
    if born is None or not _EARLIEST_BIRTH <= born <= today:
        raise InvalidIdNumber(
            "birth_date",
            f"身份证号中的出生日期 {digits} 不是有效日期",
            f"The birth date {digits} inside the ID number is not a valid date",
        )
    return born


def mask(value: str) -> str:
    """First 3 (province, city) and last 4 shown; anything too short to hide that way is hidden."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * 11 + value[-4:]


def mismatch(id_number: IdNumber, birth_date: date, gender: str) -> list[str]:
    """Fields that disagree with the ID number; gender is "male" or "female"."""
    fields = []
    if birth_date != id_number.birth_date:
        fields.append("birth_date")
    if gender != id_number.gender:
        fields.append("gender")
    return fields
