"""Every fen accounted for: kept shares, remittances up the tree, and the root passing on."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fees.domain.retention import DEFAULT_SHARES, conserved, shares_of, split

shares = st.decimals(min_value=0, max_value=1, places=4)
amounts = st.integers(min_value=0, max_value=10**12)


@given(amounts, shares)
def test_a_split_keeps_every_fen(held_fen: int, share: Decimal) -> None:
    parts = split(held_fen, share)
    assert parts.retained_fen + parts.remitted_fen == held_fen
    assert 0 <= parts.retained_fen <= held_fen * share  # never more than the share


def test_fractions_of_a_fen_go_up_with_the_remittance() -> None:
    assert split(3, Decimal("0.5")) == split(3, Decimal("0.5"))
    assert split(3, Decimal("0.5")).retained_fen == 1
    assert split(3, Decimal("0.5")).remitted_fen == 2


@pytest.mark.parametrize(("held", "share"), [(-1, Decimal("0.5")), (10, Decimal("1.1"))])
def test_nonsense_is_refused(held: int, share: Decimal) -> None:
    with pytest.raises(ValueError):
        split(held, share)


def test_configuration_replaces_some_shares_and_keeps_the_rest() -> None:
    shares = shares_of("branch=0.6, committee=0.25")
    assert shares["branch"] == Decimal("0.6") and shares["committee"] == Decimal("0.25")
    assert shares["general_branch"] == DEFAULT_SHARES["general_branch"]
    for bad in ("club=0.5", "branch=2"):
        with pytest.raises(ValueError):
            shares_of(bad)


# A province → city → county → branches chain: payments at the branches, each level keeping
# its share and remitting the rest (or not yet), the root passing its remainder on.
@given(
    payments=st.lists(st.lists(st.integers(1, 50_000), max_size=30), min_size=1, max_size=6),
    level_shares=st.lists(shares, min_size=4, max_size=4),
    remits=st.lists(st.booleans(), min_size=9, max_size=9),
)
def test_money_is_conserved_at_every_step_of_the_chain(
    payments: list[list[int]], level_shares: list[Decimal], remits: list[bool]
) -> None:
    branch_share, county_share, city_share, root_share = level_shares
    paid = sum(map(sum, payments))
    retained = held = passed_on = 0
    county_received = paid_so_far = 0
    for i, branch_payments in enumerate(payments):
        collected = sum(branch_payments)
        paid_so_far += collected
        if remits[i]:
            parts = split(collected, branch_share)
            retained += parts.retained_fen
            county_received += parts.remitted_fen
        else:
            held += collected  # the branch has not remitted yet
        assert conserved(paid_so_far, retained, passed_on, held + county_received)
    city_received = 0
    if remits[6]:
        parts = split(county_received, county_share)
        retained, city_received = retained + parts.retained_fen, parts.remitted_fen
    else:
        held += county_received
    root_received = 0
    if remits[7]:
        parts = split(city_received, city_share)
        retained, root_received = retained + parts.retained_fen, parts.remitted_fen
    else:
        held += city_received
    if remits[8]:
        parts = split(root_received, root_share)
        retained, passed_on = retained + parts.retained_fen, parts.remitted_fen
    else:
        held += root_received
    assert conserved(paid, retained, passed_on, held)
