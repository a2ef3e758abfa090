from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import (
    Rounding,
    allocate_fen,
    fen_to_yuan_str,
    percent_of_fen,
    round_fen,
    split_fen,
    yuan_to_fen,
)


@pytest.mark.parametrize(
    ("amount_fen", "rate", "rounding", "expected"),
    [
        (300000, "0.005", Rounding.HALF_UP_FEN, 1500),  # 0.5% of 3000 yuan
        (4999, "0.01", Rounding.HALF_UP_FEN, 50),  # 49.99 -> 50
        (1, "0.015", Rounding.HALF_UP_FEN, 0),  # 0.015 -> 0
        (100, "0.015", Rounding.HALF_UP_FEN, 2),  # 1.5 -> 2
        (100, "0.015", Rounding.DOWN_FEN, 1),  # 1.5 -> 1
        (100, "0.015", Rounding.DOWN_YUAN, 0),  # 1.5 fen is less than a yuan
        (100, "0.005", Rounding.HALF_UP_FEN, 1),  # 0.5 -> 1
        (500, "0.005", Rounding.HALF_UP_FEN, 3),  # 2.5 -> 3, not banker's 2
        (523456, "0.002", Rounding.DOWN_YUAN, 1000),  # 2‰: 1046.912 -> 10 yuan
        (523456, "0.002", Rounding.DOWN_FEN, 1046),
        (523456, "0.002", Rounding.HALF_UP_FEN, 1047),
        (120000, "0.005", Rounding.DOWN_YUAN, 600),  # exact multiple of a yuan is kept
        (0, "0.5", Rounding.HALF_UP_FEN, 0),
        (-100, "0.015", Rounding.HALF_UP_FEN, -2),  # a refund mirrors its charge
        (-100, "0.015", Rounding.DOWN_FEN, -1),
        (-523456, "0.002", Rounding.DOWN_YUAN, -1000),
    ],
)
def test_percent_of_fen(amount_fen: int, rate: str, rounding: Rounding, expected: int) -> None:
    assert percent_of_fen(amount_fen, Decimal(rate), rounding) == expected


def test_percent_of_fen_defaults_to_half_up() -> None:
    assert percent_of_fen(4999, Decimal("0.01")) == 50


def test_percent_of_fen_ignores_the_callers_decimal_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 2
        ctx.rounding = ROUND_HALF_EVEN
        assert percent_of_fen(523456, Decimal("0.002")) == 1047
        assert percent_of_fen(500, Decimal("0.005")) == 3


def test_percent_of_fen_is_exact_for_large_amounts() -> None:
    # 617283945061728.39 fen: a float carries ~16 significant digits and would get this wrong.
    assert percent_of_fen(123456789012345678, Decimal("0.005")) == 617283945061728


@pytest.mark.parametrize(
    ("amount", "rate"),
    [(100, 0.01), (100.0, Decimal("0.01")), (True, Decimal("0.01")), (100, "0.01")],
)
def test_percent_of_fen_rejects_floats_and_other_types(amount: Any, rate: Any) -> None:
    with pytest.raises(TypeError):
        percent_of_fen(amount, rate)


@pytest.mark.parametrize("rate", ["NaN", "Infinity", "-Infinity"])
def test_percent_of_fen_rejects_non_finite_rates(rate: str) -> None:
    with pytest.raises(ValueError, match="finite"):
        percent_of_fen(100, Decimal(rate))


@pytest.mark.parametrize(
    ("value", "rounding", "expected"),
    [
        ("1046.5", Rounding.HALF_UP_FEN, 1047),
        ("1046.4999", Rounding.HALF_UP_FEN, 1046),
        ("1046.999", Rounding.DOWN_FEN, 1046),
        ("1099.99", Rounding.DOWN_YUAN, 1000),
        ("99.99", Rounding.DOWN_YUAN, 0),
        ("-1046.5", Rounding.HALF_UP_FEN, -1047),
        ("-1099.99", Rounding.DOWN_YUAN, -1000),
    ],
)
def test_round_fen(value: str, rounding: Rounding, expected: int) -> None:
    assert round_fen(Decimal(value), rounding) == expected


def test_round_fen_accepts_the_enum_value_string() -> None:
    assert round_fen(Decimal("1099.99"), Rounding("down_yuan")) == 1000


def test_round_fen_rejects_float() -> None:
    with pytest.raises(TypeError):
        round_fen(1.5, Rounding.HALF_UP_FEN)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("yuan", "expected"),
    [
        ("12.3", 1230),
        ("12.30", 1230),
        ("12.300", 1230),  # still a whole number of fen
        (" 7 ", 700),
        ("0.01", 1),
        ("-0.05", -5),
        ("+1.5", 150),
        ("0", 0),
        (Decimal("12.30"), 1230),
        (Decimal("1E+2"), 10000),
        (12, 1200),
    ],
)
def test_yuan_to_fen(yuan: str | Decimal | int, expected: int) -> None:
    assert yuan_to_fen(yuan) == expected


@pytest.mark.parametrize(
    "yuan",
    ["12.345", "0.001", Decimal("0.005"), "", "abc", "1e2", "1,000", "12.", ".5", "NaN", "¥12"],
)
def test_yuan_to_fen_rejects_sub_fen_and_non_decimal_text(yuan: str | Decimal) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(yuan)


@pytest.mark.parametrize("yuan", [12.3, True, None])
def test_yuan_to_fen_rejects_floats_and_other_types(yuan: Any) -> None:
    with pytest.raises(TypeError):
        yuan_to_fen(yuan)


@pytest.mark.parametrize(
    ("fen", "expected"),
    [
        (1230, "12.30"),
        (5, "0.05"),
        (0, "0.00"),
        (100, "1.00"),
        (-5, "-0.05"),
        (-1230, "-12.30"),
        (123456789, "1234567.89"),
    ],
)
def test_fen_to_yuan_str(fen: int, expected: str) -> None:
    assert fen_to_yuan_str(fen) == expected


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_yuan_string_round_trips(fen: int) -> None:
    assert yuan_to_fen(fen_to_yuan_str(fen)) == fen


@pytest.mark.parametrize(
    ("total", "share", "expected"),
    [
        (1000, "0.3", (300, 700)),
        (5, "0.5", (3, 2)),  # 2.5 kept rounds half-up
        (333, "0.25", (83, 250)),  # 83.25
        (1000, "0", (0, 1000)),
        (1000, "1", (1000, 0)),
        (0, "0.4", (0, 0)),
    ],
)
def test_split_fen(total: int, share: str, expected: tuple[int, int]) -> None:
    assert split_fen(total, Decimal(share)) == expected


@pytest.mark.parametrize("share", ["-0.01", "1.01", "NaN"])
def test_split_fen_rejects_share_outside_unit_interval(share: str) -> None:
    with pytest.raises(ValueError):
        split_fen(1000, Decimal(share))


def test_split_fen_rejects_float_share() -> None:
    with pytest.raises(TypeError):
        split_fen(1000, 0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (10, [1, 0, 1], [5, 0, 5]),
        (7, [3, 2, 2], [3, 2, 2]),
        (1, [1, 1], [1, 0]),  # tie goes to the earlier weight
        (101, [1, 2], [34, 67]),  # 33.67 / 67.33: the larger remainder wins
        (0, [5, 3], [0, 0]),
        (-100, [1, 1, 1], [-34, -33, -33]),
    ],
)
def test_allocate_fen(total: int, weights: list[int], expected: list[int]) -> None:
    assert allocate_fen(total, weights) == expected


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1]])
def test_allocate_fen_rejects_unusable_weights(weights: list[int]) -> None:
    with pytest.raises(ValueError):
        allocate_fen(100, weights)


_amounts = st.integers(min_value=-(10**12), max_value=10**12)
_rates = st.decimals(min_value=Decimal("-2"), max_value=Decimal("2"), places=6)
_shares = st.decimals(min_value=Decimal(0), max_value=Decimal(1), places=6)


@given(amount=_amounts, rate=_rates)
def test_rounding_modes_stay_close_to_the_exact_value(amount: int, rate: Decimal) -> None:
    exact = Fraction(amount) * Fraction(rate)
    half_up = percent_of_fen(amount, rate, Rounding.HALF_UP_FEN)
    down_fen = percent_of_fen(amount, rate, Rounding.DOWN_FEN)
    down_yuan = percent_of_fen(amount, rate, Rounding.DOWN_YUAN)
    assert abs(half_up - exact) <= Fraction(1, 2)
    assert abs(down_fen) <= abs(exact) < abs(down_fen) + 1
    assert down_yuan % 100 == 0
    assert abs(down_yuan) <= abs(exact) < abs(down_yuan) + 100


@given(total=_amounts, share=_shares)
def test_split_fen_parts_always_sum_to_total(total: int, share: Decimal) -> None:
    kept, passed_on = split_fen(total, share)
    assert kept + passed_on == total
    assert kept == percent_of_fen(total, share, Rounding.HALF_UP_FEN)
    if total >= 0:
        assert 0 <= kept <= total


@given(
    total=_amounts,
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30).filter(
        any
    ),
)
def test_allocate_fen_sums_to_total_and_stays_within_one_fen(
    total: int, weights: list[int]
) -> None:
    parts = allocate_fen(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - Fraction(total * weight, weight_sum)) < 1
        if weight == 0:
            assert part == 0
