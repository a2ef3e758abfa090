"""Ethnic groups: the 56 of GB/T 3304 by name, short name or code, and nothing else."""

import pytest

from members.domain.ethnicity import ETHNICITIES, InvalidEthnicity, normalise_ethnicity


def test_there_are_56_groups_in_code_order() -> None:
    assert len(ETHNICITIES) == 56 == len(set(ETHNICITIES))
    assert ETHNICITIES[0] == "汉族" and ETHNICITIES[1] == "蒙古族" and ETHNICITIES[-1] == "基诺族"
    assert all(name.endswith("族") for name in ETHNICITIES)


@pytest.mark.parametrize("name", ETHNICITIES)
def test_every_group_is_known_with_and_without_its_zu(name: str) -> None:
    assert normalise_ethnicity(name) == name
    assert normalise_ethnicity(name.removesuffix("族")) == name


@pytest.mark.parametrize(("code", "name"), [(f"{i + 1:02d}", n) for i, n in enumerate(ETHNICITIES)])
def test_every_two_digit_code_gives_its_group(code: str, name: str) -> None:
    assert normalise_ethnicity(code) == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (" 汉 ", "汉族"),
        ("\u3000蒙古族\u3000", "蒙古族"),
        ("维吾尔", "维吾尔族"),
        ("土", "土族"),
        ("土家", "土家族"),
        ("０１", "汉族"),
        ("56", "基诺族"),
    ],
)
def test_spaces_and_full_width_digits_are_tolerated(text: str, name: str) -> None:
    assert normalise_ethnicity(text) == name


@pytest.mark.parametrize(
    "text", ["汉人", "穿青人", "族", "汉族族", "1", "00", "57", "97", "Han", "其他", "维族", ""]
)
def test_anything_not_one_of_the_56_is_refused(text: str) -> None:
    with pytest.raises(InvalidEthnicity) as error:
        normalise_ethnicity(text)
    assert error.value.message_zh and error.value.message_en
