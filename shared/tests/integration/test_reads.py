"""Hot reads on the driver: the rows a statement names, a span without the values, and a
connection that broke under a read replaced rather than handed to the next request."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, ClassVar

import asyncpg
import pytest
from sqlalchemy import bindparam, column, func, select, table, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.db import make_engine
from shared.reads import Query, Reads
from shared.telemetry import in_memory_tracing

INBOX = table("inbox", column("event_id"), column("consumer"))
BY_CONSUMER = Query.of(
    select(INBOX.c.event_id)
    .where(INBOX.c.consumer == bindparam("consumer"))
    .order_by(INBOX.c.event_id)
)
BACKEND = Query.of(select(func.pg_backend_pid().label("pid")))


def test_a_query_names_its_parameters_in_the_drivers_order() -> None:
    assert "$1" in BY_CONSUMER.sql and BY_CONSUMER.params == ("consumer",)
    with pytest.raises(TypeError, match="consumer"):
        BY_CONSUMER.arguments({})


async def test_rows_and_row_read_what_the_statement_names(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    consumer = f"reads.{uuid.uuid4().hex[:8]}"
    ids = sorted(uuid.uuid4() for _ in range(3))
    async with sessions() as session, session.begin():
        for event_id in ids:
            await session.execute(
                text("INSERT INTO inbox (event_id, consumer) VALUES (:e, :c)"),
                {"e": event_id, "c": consumer},
            )
    provider, spans = in_memory_tracing()
    reads = Reads(engine, asyncio.Semaphore(2), provider)

    assert [r["event_id"] for r in await reads.rows(BY_CONSUMER, consumer=consumer)] == ids
    assert await reads.row(BY_CONSUMER, consumer="nobody") is None

    statement_spans = [s for s in spans.get_finished_spans() if s.kind.name == "CLIENT"]
    assert len(statement_spans) == 2
    assert statement_spans[0].name.startswith("SELECT ")
    assert statement_spans[0].attributes["db.statement"] == BY_CONSUMER.sql
    assert consumer not in str(statement_spans[0].attributes)  # the text, never the values


class ClosingMidRead(asyncpg.Connection):  # type: ignore[misc]
    """A driver connection whose next read, once armed, fails as a terminated backend's does
    when asyncpg words the loss (class 08, a PostgresError) before it has seen the socket close:
    is_closed() still says no."""

    armed: ClassVar[list[int]] = []

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        if ClosingMidRead.armed:
            ClosingMidRead.armed.pop()
            raise asyncpg.ConnectionDoesNotExistError(
                "connection was closed in the middle of operation"
            )
        return await super().fetch(*args, **kwargs)


async def test_a_loss_worded_before_the_socket_closes_is_still_a_lost_connection(
    engine: AsyncEngine,
) -> None:
    closing = create_async_engine(
        engine.url, connect_args={"connection_class": ClosingMidRead}, pool_size=1
    )
    reads = Reads(closing, asyncio.Semaphore(1))
    try:
        first = await reads.row(BACKEND)
        assert first is not None
        ClosingMidRead.armed.append(1)
        with pytest.raises(ConnectionError):  # answered 503 (shared.problems), not 500
            await reads.row(BACKEND)
        # The connection was discarded, not handed to the next read.
        again = await reads.row(BACKEND)
        assert again is not None and again["pid"] != first["pid"]
    finally:
        ClosingMidRead.armed.clear()
        await closing.dispose()


async def test_a_connection_killed_under_reads_is_replaced(engine: AsyncEngine) -> None:
    one = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    reads = Reads(one, asyncio.Semaphore(1))
    try:
        first = await reads.row(BACKEND)
        assert first is not None
        admin = await asyncpg.connect(
            engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", first["pid"])
        finally:
            await admin.close()
        # The read on the dead connection fails (the client is answered 503, shared.problems)
        with pytest.raises(ConnectionError):  # answered 503 (shared.problems)
            await reads.row(BACKEND)
        # and the pool's only connection is a fresh one, not the dead one again.
        again = await reads.row(BACKEND)
        assert again is not None and again["pid"] != first["pid"]
    finally:
        await one.dispose()
