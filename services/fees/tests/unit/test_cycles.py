"""The month start's chunks: every branch in exactly one, none split, about even in work."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fees.domain.cycles import chunks_of


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=5_000), max_size=300),
    target=st.integers(min_value=1, max_value=20_000),
)
def test_every_branch_lands_in_exactly_one_chunk_in_order(sizes: list[int], target: int) -> None:
    branches = [(uuid.uuid4(), n) for n in sizes]
    chunks = chunks_of(branches, target)
    assert [b for chunk in chunks for b in chunk] == [b for b, _ in branches]
    members = dict(branches)
    for chunk in chunks:
        # Over the target only when one branch alone is larger than it.
        assert sum(members[b] for b in chunk) <= target or len(chunk) == 1


def test_small_branches_share_a_chunk_and_a_large_one_stands_alone() -> None:
    a, b, big, c = (uuid.uuid4() for _ in range(4))
    assert chunks_of([(a, 30), (b, 40), (big, 500), (c, 10)], 100) == [[a, b], [big], [c]]


def test_no_branches_no_chunks() -> None:
    assert chunks_of([]) == []
    with pytest.raises(ValueError):
        chunks_of([(uuid.uuid4(), 1)], 0)


def test_the_cycle_is_due_from_five_past_midnight_on_the_first() -> None:
    from datetime import date, datetime

    from fees.worker import cycle_due
    from shared.calendar import BEIJING

    assert cycle_due(datetime(2027, 1, 1, 0, 4, tzinfo=BEIJING)) is None
    assert cycle_due(datetime(2027, 1, 1, 0, 5, tzinfo=BEIJING)) == date(2027, 1, 1)
    # Workers that were all down on the 1st open it when one is back.
    assert cycle_due(datetime(2027, 1, 9, 13, 0, tzinfo=BEIJING)) == date(2027, 1, 1)
