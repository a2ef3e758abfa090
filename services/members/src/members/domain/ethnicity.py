"""The 56 ethnic groups (民族, GB/T 3304) and the ways a sheet may name one."""

from __future__ import annotations

import csv
import io
import re
from importlib.resources import files

from members.domain.text import clean, halfwidth


class InvalidEthnicity(ValueError):
    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def _load() -> dict[str, str]:
    # The list is data shipped with the package, read once: one place for the fact.
    text = files(__package__ or "members.domain").joinpath("ethnicities.csv").read_text("utf-8")
    return {row["code"]: row["name"] for row in csv.DictReader(io.StringIO(text))}


_BY_CODE = _load()
ETHNICITIES: tuple[str, ...] = tuple(_BY_CODE[code] for code in sorted(_BY_CODE))
_NAMES = frozenset(ETHNICITIES)
# Every name ends in 族 and no two differ only by it, so the short form is unambiguous.
_BY_SHORT_NAME = {name.removesuffix("族"): name for name in ETHNICITIES}
_SPACES = re.compile(r"\s+")


def normalise_ethnicity(text: str) -> str:
    """汉 / 汉族 / 01 → 汉族; anything that is not one of the 56 is refused, never mapped."""
    value = _SPACES.sub("", halfwidth(clean(text)))
    if value in _BY_CODE:
        return _BY_CODE[value]
    if value in _NAMES:
        return value
    if value in _BY_SHORT_NAME:
        return _BY_SHORT_NAME[value]
    if not value:
        raise InvalidEthnicity("民族不能为空", "The ethnic group is missing")
    raise InvalidEthnicity(
        f"“{value}”不是 56 个民族之一：请填写如“汉族”“蒙古族”这样的民族名称",
        f"{value!r} is not one of the 56 ethnic groups: write a name such as 汉族 or 蒙古族",
    )
