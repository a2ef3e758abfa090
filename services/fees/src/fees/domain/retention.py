"""What an organisation keeps of the dues it collects or receives (留存比例) and what it remits
to its parent; at the root, the rest is passed on outside the province.

Every fen is accounted for: the share kept is rounded down to the fen, and the fraction of a fen
goes up with the rest, so kept + remitted is always exactly what was held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

# Defaults by organisation type; configuration (FEES_RETENTION) replaces any of them.
DEFAULT_SHARES: Mapping[str, Decimal] = {
    "branch": Decimal("0.50"),
    "general_branch": Decimal("0.30"),
    "working_committee": Decimal("0.30"),
    "committee": Decimal("0.20"),
}


@dataclass(frozen=True)
class Split:
    retained_fen: int
    remitted_fen: int


def split(held_fen: int, share: Decimal) -> Split:
    """Keep `share` of `held_fen` (rounded down to the fen), remit the rest."""
    if held_fen < 0:
        raise ValueError("nothing negative is held")
    if not Decimal(0) <= share <= Decimal(1):
        raise ValueError("a share lies between 0 and 1")
    retained = int((Decimal(held_fen) * share).quantize(Decimal(1), rounding=ROUND_DOWN))
    return Split(retained, held_fen - retained)


def shares_of(text: str, defaults: Mapping[str, Decimal] = DEFAULT_SHARES) -> dict[str, Decimal]:
    """`branch=0.6,committee=0.25` over the defaults, as configuration gives it."""
    shares = dict(defaults)
    for item in filter(None, (part.strip() for part in text.split(","))):
        org_type, _, value = item.partition("=")
        if org_type not in defaults:
            raise ValueError(f"unknown organisation type {org_type!r}")
        share = Decimal(value)
        if not Decimal(0) <= share <= Decimal(1):
            raise ValueError(f"{org_type}: a share lies between 0 and 1")
        shares[org_type] = share
    return shares


def conserved(paid_fen: int, retained_fen: int, passed_on_fen: int, held_fen: int) -> bool:
    """The conservation invariant of a month: everything paid is retained somewhere, passed on
    outside the province by the root, or still held by an organisation that has not remitted."""
    return paid_fen == retained_fen + passed_on_fen + held_fen
