"""Splitting branches into chunks of about even work for a work queue: the month start's bills
(fees), an activity's notifications (activities). A chunk is one command, done by one process in
one transaction with one set-based statement; a branch is never split, so its part is written
whole, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence


def chunks_of(
    branches: Sequence[tuple[uuid.UUID, int]], target_members: int
) -> list[list[uuid.UUID]]:
    """Branches (id, members) in order, packed into consecutive chunks of about
    `target_members`; a branch larger than that is a chunk of its own."""
    if target_members < 1:
        raise ValueError("a chunk holds at least one member")
    chunks: list[list[uuid.UUID]] = []
    current: list[uuid.UUID] = []
    filled = 0
    for branch_id, members in branches:
        if current and filled + members > target_members:
            chunks.append(current)
            current, filled = [], 0
        current.append(branch_id)
        filled += members
    if current:
        chunks.append(current)
    return chunks
