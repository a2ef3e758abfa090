"""Money arithmetic on integer fen (1 yuan = 100 fen): rates, rounding, parsing, splitting."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from enum import StrEnum

FEN_PER_YUAN = 100

# Generous enough for any realistic amount times any rate; Inexact is trapped as well,
# so if it ever is not enough we fail loudly instead of rounding behind the caller's back.
_PRECISION = 60
_YUAN_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


class Rounding(StrEnum):
    """How a fractional fen amount becomes an integer fen amount.

    Both DOWN modes truncate toward zero, so a negative amount (a refund) rounds to the
    mirror image of the positive one.
    """

    HALF_UP_FEN = "half_up_fen"
    DOWN_YUAN = "down_yuan"
    DOWN_FEN = "down_fen"


def percent_of_fen(
    amount_fen: int, rate: Decimal, rounding: Rounding = Rounding.HALF_UP_FEN
) -> int:
    """Apply ``rate`` (``Decimal("0.005")`` is 0.5%) to ``amount_fen`` and round to fen."""
    _require_int("amount_fen", amount_fen)
    _require_decimal("rate", rate)
    with _exact_context():
        return round_fen(Decimal(amount_fen) * rate, rounding)


def round_fen(value: Decimal, rounding: Rounding) -> int:
    """Round a fen amount held as a Decimal to an integer fen amount."""
    _require_decimal("value", value)
    rounding = Rounding(rounding)
    with _exact_context() as ctx:
        if rounding is Rounding.DOWN_YUAN:
            value, unit = value / FEN_PER_YUAN, FEN_PER_YUAN
        else:
            unit = 1
        mode = ROUND_HALF_UP if rounding is Rounding.HALF_UP_FEN else ROUND_DOWN
        # Dropping the fraction is the whole point here, so only this step may be inexact.
        ctx.traps[Inexact] = False
        return int(value.quantize(Decimal(1), rounding=mode)) * unit


def yuan_to_fen(text: str | Decimal | int) -> int:
    """Convert a yuan amount ("12.3", ``Decimal("12.30")``, 12) to fen, exactly.

    Anything that is not a whole number of fen ("12.345") raises ValueError; text must be
    plain decimal notation (no exponent, separators or currency sign).
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text * FEN_PER_YUAN
    if isinstance(text, str):
        stripped = text.strip()
        if not _YUAN_TEXT.fullmatch(stripped):
            raise ValueError(f"not a yuan amount: {text!r}")
        value = Decimal(stripped)
    elif isinstance(text, Decimal):
        _require_decimal("yuan amount", text)
        value = text
    else:
        raise TypeError(f"yuan amount must be str, Decimal or int, got {type(text).__name__}")
    with _exact_context():
        fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"yuan amount has more than 2 decimals: {text!r}")
    return int(fen)


def fen_to_yuan_str(fen: int) -> str:
    """Format fen as yuan with exactly two decimals: 1230 -> "12.30", -5 -> "-0.05"."""
    _require_int("fen", fen)
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{yuan}.{cents:02d}"


def split_fen(total_fen: int, share: Decimal) -> tuple[int, int]:
    """Split ``total_fen`` into (kept, passed_on) for a retention share (留存比例) in [0, 1].

    ``kept`` is ``total * share`` rounded half-up to the fen and ``passed_on`` is the rest,
    so the two always add back to ``total_fen``.
    """
    _require_int("total_fen", total_fen)
    _require_decimal("share", share)
    if not Decimal(0) <= share <= Decimal(1):
        raise ValueError(f"share must be between 0 and 1 inclusive, got {share}")
    kept = percent_of_fen(total_fen, share, Rounding.HALF_UP_FEN)
    return kept, total_fen - kept


def allocate_fen(total_fen: int, weights: Sequence[int]) -> list[int]:
    """Allocate ``total_fen`` in proportion to ``weights`` by largest remainder.

    The parts sum exactly to ``total_fen`` and each is within 1 fen of its exact share.
    Ties go to the earlier weight so the result is deterministic.
    """
    _require_int("total_fen", total_fen)
    if not weights:
        raise ValueError("weights must not be empty")
    for weight in weights:
        _require_int("weight", weight)
        if weight < 0:
            raise ValueError(f"weights must be non-negative, got {weight}")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    # Allocate the magnitude and restore the sign, so a refund mirrors its charge.
    sign = -1 if total_fen < 0 else 1
    magnitude = abs(total_fen)
    quotients_remainders = [divmod(magnitude * weight, weight_sum) for weight in weights]
    parts = [quotient for quotient, _ in quotients_remainders]
    leftover = magnitude - sum(parts)
    by_remainder = sorted(
        range(len(weights)), key=lambda index: (-quotients_remainders[index][1], index)
    )
    for index in by_remainder[:leftover]:
        parts[index] += 1
    return [sign * part for part in parts]


@contextmanager
def _exact_context() -> Iterator[Context]:
    # A private context: callers' global decimal settings must not change money results.
    context = Context(
        prec=_PRECISION,
        rounding=ROUND_HALF_UP,
        traps=[Inexact, InvalidOperation, DivisionByZero, Overflow],
    )
    with localcontext(context) as ctx:
        yield ctx


def _require_int(name: str, value: object) -> None:
    # bool is an int subclass; True fen is almost certainly a bug upstream.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int number of fen, got {type(value).__name__}")


def _require_decimal(name: str, value: object) -> None:
    # Floats cannot represent most rates (0.005) exactly, so they are refused outright.
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
