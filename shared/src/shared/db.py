"""Async SQLAlchemy engine and session factory, built by the app factory (never at import time)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar, cast

import asyncpg
from sqlalchemy import ColumnElement, literal, text, tuple_
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.observe import trace_statements
from shared.problems import Problem

V = TypeVar("V")


def in_lock_order(rows: Mapping[uuid.UUID, V]) -> dict[uuid.UUID, V]:
    """`rows`, keyed by the ids a bulk `UPDATE … FROM unnest(…)` (or `INSERT … SELECT … FROM
    unnest(…)`) will lock, in id order. Such a statement locks its rows in its arrays' order (a
    nested loop over the unnest: the plan for a batch), and two transactions locking the same
    rows in opposite orders deadlock, say two consumer processes with the same members in their
    batches. In one order, one waits for the other instead."""
    return dict(sorted(rows.items()))


def ids_in_lock_order(ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """`ids` once each, in the order `in_lock_order` keeps."""
    return sorted(set(ids))


async def lock_in_id_order(
    session: AsyncSession,
    table: str,
    key: str,
    ids: Iterable[uuid.UUID],
    *,
    strength: Literal["UPDATE", "NO KEY UPDATE"] = "UPDATE",
) -> None:
    """The rows of `table` whose `key` is in `ids` locked first, in id order, by a transaction
    that is to lock other rows after them: another one taking the same rows then waits for it
    instead of deadlocking with it. `table` and `key` are our constants, never input."""
    await session.execute(
        text(
            f"SELECT 1 FROM {table} WHERE {key} = ANY(CAST(:ids AS uuid[])) "  # noqa: S608 (constants)
            f"ORDER BY {key} FOR {strength}"
        ),
        {"ids": ids_in_lock_order(ids)},
    )


def make_engine(url: str, *, pool_size: int = 20, instrument: bool = True) -> AsyncEngine:
    # hide_parameters: a database error's message must not carry the statement's values (phone
    # numbers, sealed ID numbers) into the logs. No pre-ping: it is a round trip on every
    # checkout; a connection the server dropped fails its statement instead, SQLAlchemy discards
    # the whole pool's stale connections on that error, and the request answers 503. Connections
    # are renewed after 30 minutes, before anything between here and the server drops them idle.
    # No overflow: connections opened past the pool size are closed again on return, and under
    # load that churn (a connect costs milliseconds) costs more than waiting for a pooled one.
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
        hide_parameters=True,
    )
    if instrument:
        trace_statements(engine.sync_engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(url: str) -> str:
    """The plain libpq URL asyncpg takes, from a `postgresql+asyncpg://` one."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_database(url: str) -> bool:
    """Create the database `url` names if it does not exist; True when it was created."""
    u = make_url(url)
    name = u.database
    assert name, "database URL names no database"
    admin = await asyncpg.connect(asyncpg_dsn(u.set(database="postgres").render_as_string(False)))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        await admin.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await admin.close()


async def drop_database(url: str) -> None:
    u = make_url(url)
    admin = await asyncpg.connect(asyncpg_dsn(u.set(database="postgres").render_as_string(False)))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
    finally:
        await admin.close()


def keyset_after(columns: Sequence[Any], values: Sequence[object]) -> ColumnElement[bool]:
    """`(a, b, c) > (x, y, z)` for keyset pagination: the next page starts after the last row seen,
    and the database walks the index that has these columns in this order."""
    # A value may be a bind parameter already (a statement compiled once, shared.reads).
    return tuple_(*columns) > tuple_(
        *(v if isinstance(v, ColumnElement) else literal(v) for v in values)
    )


def retire_pool(engine: AsyncEngine, pooled: Any, exc: BaseException) -> None:
    """The server dropped `pooled` under a statement sent on the driver (where SQLAlchemy does
    not see the error), and likely every idle connection with it: a restart, a failover, an
    operator's pg_terminate_backend. Retire the whole pool as SQLAlchemy does when a session
    meets a lost connection (Pool._invalidate is the entry point it uses itself), so that the
    next statement connects afresh instead of meeting the next dead connection, or this one
    again (the outbox relay met the same closed connection every second, for good)."""
    engine.sync_engine.pool._invalidate(pooled, exc)


async def copy_rows(session: AsyncSession, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Many rows in one COPY on the session's connection, inside its transaction: an import's
    10,000 members went in several times faster than through INSERT.

    The database's refusals come out as SQLAlchemy's (a unique violation as IntegrityError, a
    value it cannot hold as a data error), so callers and the problem handlers treat them as
    they treat an INSERT's.
    """
    if not rows:
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    columns = list(rows[0])
    records = [tuple(row[c] for c in columns) for row in rows]
    driver = raw.driver_connection
    assert driver is not None, "the session's connection is open"
    try:
        await driver.copy_records_to_table(table, records=records, columns=columns)
    except asyncpg.UniqueViolationError as exc:
        raise IntegrityError(f"COPY {table}", None, exc) from exc
    except asyncpg.PostgresError as exc:
        # An operator's shutdown of the connection comes as one (57P01: answered 503).
        if driver.is_closed():
            retire_pool(cast(AsyncEngine, session.bind), raw, exc)
        raise DBAPIError(f"COPY {table}", None, exc) from exc
    except (asyncpg.InterfaceError, OSError) as exc:
        retire_pool(cast(AsyncEngine, session.bind), raw, exc)
        raise ConnectionError("the database connection was lost") from exc


@contextlib.asynccontextmanager
async def driver_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction straight on the driver, on a connection of the service's own pool: for a
    hot loop of a few fixed statements (the outbox relay), where the ORM layer's cost per
    statement is most of the work. SQLAlchemy never starts a transaction on the connection
    here, so handing it back to the pool costs no round trip."""
    async with sessions() as session:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None, "the session's connection is open"
        try:
            async with driver.transaction():
                yield driver
        except BaseException as exc:
            if driver.is_closed():
                retire_pool(cast(AsyncEngine, session.bind), raw, exc)
            raise


@contextlib.contextmanager
def conflict_on_duplicate(code: str, detail: str, **extra: Any) -> Iterator[None]:
    """Around a write guarded by a unique index: a violation (a concurrent writer got there
    first) becomes 409 with this code instead of a 500; the transaction rolls back."""
    try:
        yield
    except IntegrityError as exc:
        raise Problem(409, code, detail, **extra) from exc
