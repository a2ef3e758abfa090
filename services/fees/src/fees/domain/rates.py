"""Monthly dues (团费) from a fee profile: rate tables as data, with effective dates.

A table has bands on the monthly after-tax income in fen, each charging a percentage of the
whole income (not progressively) or a flat amount, optionally capped, rounded half-up to the fen
or down to the whole yuan; and categories (student, unemployed, ...) at a flat amount. Which
table is in force for a month is configuration (`RateSchedule`): a rule change is a new table
with a later effective date, never a code change.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from importlib import resources
from typing import Any

SALARIED = "salaried"
# 1,000,000 yuan a month: above this an income is a typing error, not a salary.
MAX_MONTHLY_INCOME_FEN = 100_000_000


class FeeRuleError(ValueError):
    """A profile or a table the rules cannot bill; `code` is the problem code the API answers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Rounding(StrEnum):
    HALF_UP_FEN = "half_up_fen"  # the regulation's: exact decimals, half-up to the fen
    DOWN_YUAN = "down_yuan"  # the 2016 rule's: truncated to whole yuan


@dataclass(frozen=True)
class Band:
    """Incomes up to and including `up_to_fen` (None: no upper edge) pay `percent` of the whole
    income or `flat_fen`, rounded by `rounding`, then at most `cap_fen`."""

    up_to_fen: int | None
    percent: Decimal | None = None
    flat_fen: int | None = None
    cap_fen: int | None = None
    rounding: Rounding = Rounding.HALF_UP_FEN

    def __post_init__(self) -> None:
        if (self.percent is None) == (self.flat_fen is None):
            raise ValueError("a band charges either a percent or a flat amount")
        if self.percent is not None and not Decimal(0) <= self.percent <= Decimal(100):
            raise ValueError("a percent lies between 0 and 100")
        if any(v is not None and v < 0 for v in (self.up_to_fen, self.flat_fen, self.cap_fen)):
            raise ValueError("amounts are not negative")

    def amount_fen(self, income_fen: int) -> int:
        if self.flat_fen is not None:
            amount = self.flat_fen
        else:
            assert self.percent is not None
            exact = Decimal(income_fen) * self.percent / 100
            if self.rounding is Rounding.HALF_UP_FEN:
                amount = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
            else:
                amount = int((exact / 100).quantize(Decimal(1), rounding=ROUND_DOWN)) * 100
        return amount if self.cap_fen is None else min(amount, self.cap_fen)


@dataclass(frozen=True)
class RateTable:
    """One rule: bands for salaried members, flat amounts for the categories."""

    name: str
    bands: tuple[Band, ...]
    categories: dict[str, int]

    def __post_init__(self) -> None:
        edges = [b.up_to_fen for b in self.bands]
        if not edges or edges[-1] is not None:
            raise ValueError(f"{self.name}: the last band has no upper edge")
        bounded = [e for e in edges[:-1] if e is not None]
        if len(bounded) != len(edges) - 1 or bounded != sorted(set(bounded)):
            raise ValueError(f"{self.name}: band edges must rise, one open band last")
        if SALARIED in self.categories or any(v < 0 for v in self.categories.values()):
            raise ValueError(f"{self.name}: categories are flat amounts besides salaried")

    @property
    def category_names(self) -> list[str]:
        return [SALARIED, *self.categories]

    def monthly_fen(self, category: str, income_fen: int | None) -> int:
        """The monthly amount for a profile, or FeeRuleError saying what is wrong with it."""
        if income_fen is not None:
            check_income_range(income_fen)  # given with a category too: not stored, still checked
        if category in self.categories:
            return self.categories[category]
        if category != SALARIED:
            raise FeeRuleError(
                "fee.unknown_category",
                f"Unknown category {category!r}; one of {', '.join(self.category_names)}.",
            )
        if income_fen is None:
            raise FeeRuleError(
                "fee.income_required", "A salaried member's monthly income after tax is required."
            )
        band = next(b for b in self.bands if b.up_to_fen is None or income_fen <= b.up_to_fen)
        amount = band.amount_fen(income_fen)
        # Never the income itself in a refusal: a problem's text may be logged.
        instead = f"a member without a salary takes a category ({', '.join(self.categories)})"
        if income_fen == 0:  # no income is a category (unemployed, ...), not a salary of 0
            raise FeeRuleError("fee.income_invalid", f"A salary is above 0; {instead} instead.")
        if amount <= 0:  # under half a fen: a 0-fen bill from a salary would be noise
            raise FeeRuleError(
                "fee.income_invalid",
                f"This monthly income makes no dues at the rates of {self.name}; {instead}.",
            )
        return amount


def check_income_range(income_fen: int) -> None:
    """A declared monthly income, whatever the category: not negative, and not absurd."""
    if income_fen < 0:
        raise FeeRuleError("fee.income_invalid", "A monthly income is not negative.")
    if income_fen > MAX_MONTHLY_INCOME_FEN:
        raise FeeRuleError(
            "fee.income_invalid",
            f"A monthly income above {MAX_MONTHLY_INCOME_FEN // 100:,} yuan is not plausible.",
        )


@dataclass(frozen=True)
class RateSchedule:
    """Which table is in force from which day: the latest one effective on a month's 1st."""

    entries: tuple[tuple[date, RateTable], ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError("a schedule needs at least one table")
        days = [day for day, _ in self.entries]
        if days != sorted(set(days)):
            raise ValueError("effective dates must rise, one table a date")

    def in_force(self, month: date) -> RateTable:
        first = month.replace(day=1)
        found = [table for day, table in self.entries if day <= first]
        if not found:
            raise FeeRuleError("fee.no_rate_table", f"No rate table is in force for {first:%Y-%m}.")
        return found[-1]


def table_of(name: str, spec: dict[str, Any]) -> RateTable:
    """A table from its data (TOML, below): amounts in fen, percentages as decimal strings."""
    bands = tuple(
        Band(
            up_to_fen=band.get("up_to_fen"),
            percent=Decimal(str(band["percent"])) if "percent" in band else None,
            flat_fen=band.get("flat_fen"),
            cap_fen=band.get("cap_fen"),
            rounding=Rounding(band.get("rounding", Rounding.HALF_UP_FEN)),
        )
        for band in spec["bands"]
    )
    return RateTable(name, bands, dict(spec.get("categories", {})))


def tables_from_toml(text: str) -> dict[str, RateTable]:
    data = tomllib.loads(text)
    return {name: table_of(name, spec) for name, spec in data.items()}


def shipped_tables() -> dict[str, RateTable]:
    """The tables that come with the service (rate_tables.toml beside this module)."""
    return tables_from_toml(resources.files(__package__).joinpath("rate_tables.toml").read_text())


def schedule_of(text: str, tables: dict[str, RateTable]) -> RateSchedule:
    """`regulation@2000-01-01,province2027@2027-01-01`: table names and the day each applies
    from, as configuration gives them (FEES_RATE_SCHEDULE)."""
    entries: list[tuple[date, RateTable]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, day = item.partition("@")
        if name not in tables:
            raise ValueError(f"unknown rate table {name!r}; known: {', '.join(sorted(tables))}")
        entries.append((date.fromisoformat(day), tables[name]))
    return RateSchedule(tuple(sorted(entries, key=lambda e: e[0])))
