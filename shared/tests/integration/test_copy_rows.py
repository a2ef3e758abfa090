"""Rows copied in bulk go in with the transaction, and a duplicate is refused like an INSERT's."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import conflict_on_duplicate, copy_rows
from shared.problems import Problem


async def test_copied_rows_commit_with_their_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    consumer = f"copy.{uuid.uuid4().hex[:8]}"
    ids = [uuid.uuid4() for _ in range(3)]
    async with sessions() as session, session.begin():
        await copy_rows(session, "inbox", [{"event_id": i, "consumer": consumer} for i in ids])
    async with sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM inbox WHERE consumer = :c"), {"c": consumer}
        )
    assert count == 3


async def test_a_duplicate_is_a_409_and_nothing_of_the_batch_stays(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    consumer = f"copy.{uuid.uuid4().hex[:8]}"
    taken = uuid.uuid4()
    async with sessions() as session, session.begin():
        await copy_rows(session, "inbox", [{"event_id": taken, "consumer": consumer}])
    fresh = uuid.uuid4()
    with pytest.raises(Problem) as refused:
        async with sessions() as session, session.begin():
            with conflict_on_duplicate("test.duplicate", "Someone was first."):
                await copy_rows(
                    session,
                    "inbox",
                    [
                        {"event_id": fresh, "consumer": consumer},
                        {"event_id": taken, "consumer": consumer},
                    ],
                )
    assert refused.value.status == 409 and refused.value.code == "test.duplicate"
    async with sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM inbox WHERE consumer = :c"), {"c": consumer}
        )
    assert count == 1
