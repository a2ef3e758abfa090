"""Splitting the province into chunks of branches for the month start (每月团费收缴名单).

A chunk is one `GenerateBills` command: one worker writes its bills in one set-based statement
and one transaction. Chunks are cut by member count, so that a province of 50,000 branches of
very different sizes gives chunks of about the same work, and a branch is never split (its dues
list is written whole, once).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

# ~20,000 bills a transaction: seconds of work, small enough to redo after a crash.
CHUNK_MEMBERS = 20_000


def chunks_of(
    branches: Sequence[tuple[uuid.UUID, int]], target_members: int = CHUNK_MEMBERS
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
