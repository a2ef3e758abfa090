"""Chunks of branches: every branch in exactly one, none split, about even in work."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.chunks import chunks_of


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
    assert chunks_of([], 100) == []
    with pytest.raises(ValueError):
        chunks_of([(uuid.uuid4(), 1)], 0)
