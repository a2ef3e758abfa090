"""Reads on the hot path, straight on the driver: a SQLAlchemy Core statement compiled once at
import, run on a pooled asyncpg connection.

Why: a read through the ORM session (session, transaction state, result and identity map, then
an object per row) cost ~0.75 ms of CPU where the same statement on the driver costs ~0.25 ms,
the larger part of a service's `GET /orgs/{id}`. Routes that read what every screen reads (an
organisation, its children) use this; so does the one write hot enough to need it, a cash
payment, whose write is whole in one statement (`Statement`, `run`). Everything else that
writes, and reads that are not hot, keep the session. A `Query` is still written against the
mapped tables, so a renamed column fails at import, not in production.

The connection comes from the engine's own pool (one pool, one budget of connections per
process) and in the same turn order as sessions (`Resources.db_turns`). Outside any transaction:
each statement is its own snapshot, as with `ReadSessionDep`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import TextClause, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.expression import ClauseElement

from shared.db import retire_pool
from shared.problems import database_gone

_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Query:
    """A statement compiled to the driver's SQL (`$1`, `$2`, ...) and the names of its
    parameters in that order (`bindparam("org_id")` → `org_id=...`)."""

    sql: str
    params: tuple[str, ...]
    verb: str

    @classmethod
    def of(cls, statement: ClauseElement) -> Query:
        compiled = statement.compile(dialect=_DIALECT)
        sql = str(compiled)
        return cls(
            sql, tuple(getattr(compiled, "positiontup", None) or ()), sql.split(None, 1)[0].upper()
        )

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        missing = set(self.params) - set(values)
        if missing:
            raise TypeError(f"missing query parameters: {sorted(missing)}")
        return [values[name] for name in self.params]


class Reads:
    """Runs `Query`s on a connection borrowed from the engine's pool for one statement."""

    def __init__(
        self,
        engine: AsyncEngine,
        turns: asyncio.Semaphore,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self._engine = engine
        self._turns = turns
        self._tracer = trace.get_tracer("shared.reads", tracer_provider=tracer_provider)
        self._database = engine.url.database or ""

    async def rows(self, query: Query, **values: Any) -> list[asyncpg.Record]:
        return await self._run(query, values)

    async def row(self, query: Query, **values: Any) -> asyncpg.Record | None:
        rows = await self._run(query, values)
        return rows[0] if rows else None

    async def _run(self, query: Query, values: Mapping[str, Any]) -> list[asyncpg.Record]:
        arguments = query.arguments(values)
        async with self._turns:
            # The same span a session's statement gets (shared.observe.trace_statements): the
            # text, never the values.
            with self._tracer.start_as_current_span(
                f"{query.verb} {self._database}",
                kind=SpanKind.CLIENT,
                attributes={
                    "db.system": "postgresql",
                    "db.name": self._database,
                    "db.statement": query.sql,
                },
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                pooled = await self._engine.raw_connection()
                driver = cast(asyncpg.Connection, pooled.driver_connection)
                try:
                    return cast(list[asyncpg.Record], await driver.fetch(query.sql, *arguments))
                except BaseException as exc:
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    # The server refused the statement and the connection is still good. Not
                    # a lost connection that asyncpg words as a PostgresError (class 08,
                    # "connection was closed in the middle of operation") before it sees the
                    # socket closed: that one is lost whatever is_closed() says yet.
                    gone = database_gone(exc)
                    refused = isinstance(exc, asyncpg.PostgresError) and not gone
                    if refused and not driver.is_closed():
                        raise
                    # The connection broke (an operator's shutdown arrives as a PostgresError),
                    # or the request was cancelled mid-statement: nobody knows what state it is
                    # in, so the pool opens a fresh one instead of handing it to the next read.
                    if driver.is_closed():
                        # The server dropped it, and likely every other idle one with it (a
                        # restart, a pg_terminate_backend): retire the whole pool as SQLAlchemy
                        # does for a session's lost connection, so that a second try
                        # (shared.retry) connects afresh instead of meeting the next dead one.
                        retire_pool(self._engine, pooled, exc)
                    else:
                        pooled.invalidate()
                    if not refused and (gone or driver.is_closed()):
                        # A transient fault, answered 503 (shared.problems), as a session's
                        # lost connection is. (Closed by the server, or by the invalidation
                        # above: a driver stuck mid-protocol comes here too.)
                        raise ConnectionError("the database connection was lost") from exc
                    raise
                finally:
                    pooled.close()  # back to the pool (or, invalidated, discarded)


@dataclass(frozen=True)
class Statement:
    """One SQL text, for a session's transaction and, compiled once, for the driver: a use case
    that runs alone on the driver when it is whole in one statement (a cash payment: the bill,
    the caller's scope, then bill, payment, event and audit row, its own transaction) and inside
    a session's transaction when it is part of more (an Idempotency-Key stored with its
    answer)."""

    text: TextClause
    query: Query

    @classmethod
    def of(cls, sql: str) -> Statement:
        clause = text(sql)
        return cls(clause, Query.of(clause))


async def run(where: AsyncSession | Reads, statement: Statement, **values: Any) -> list[Any]:
    """The statement's rows (`row["column"]`), in the session's transaction or alone on the
    driver."""
    if isinstance(where, Reads):
        return await where.rows(statement.query, **values)
    return [row._mapping for row in await where.execute(statement.text, values)]
