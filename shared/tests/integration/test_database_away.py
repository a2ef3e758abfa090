"""A database that does not answer is a 503 the client can retry, never a 500."""

from __future__ import annotations

import asyncio
import itertools
import socket
import uuid
from typing import Any, ClassVar

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import copy_rows, make_engine, make_sessionmaker
from shared.problems import install_problem_handlers
from shared.reads import Query, Reads
from shared.retry import RetryAfterDatabaseFailure

BACKEND = Query.of(select(func.pg_backend_pid().label("pid")))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_answers_503_with_retry_after() -> None:
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/nowhere")
    assert_answers_503(engine)


def assert_answers_503(engine: AsyncEngine) -> None:
    """A route reading through `engine` answers 503 with Retry-After, not 500."""
    sessions = make_sessionmaker(engine)
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/count")
    async def count() -> int:
        async with sessions() as session:
            return int((await session.execute(text("SELECT 1"))).scalar_one())

    r = TestClient(app, raise_server_exceptions=False).get("/count")
    assert r.status_code == 503 and r.json()["code"] == "ops.database_unavailable"
    assert r.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    "refusal",
    [
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    ],
    ids=["starting_up", "too_many_clients"],
)
def test_a_database_refusing_connections_answers_503(refusal: Exception) -> None:
    async def connect() -> object:
        raise refusal  # as asyncpg.connect does, before SQLAlchemy wraps anything

    engine = create_async_engine("postgresql+asyncpg://", async_creator=connect)
    assert_answers_503(engine)


def test_a_database_missing_answers_503() -> None:
    """Between the two renames of a restore (`zhtj-<svc> restore`) the database has no name."""
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/missing_{uuid.uuid4().hex}")
    assert_answers_503(engine)


def test_a_database_closed_to_connections_answers_503() -> None:
    """What a restore's swap does first: ALLOW_CONNECTIONS false (SQLSTATE 55000 on connect)."""
    name = f"closed_{uuid.uuid4().hex}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
        assert_answers_503(make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"))
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}"'))


async def test_a_connection_killed_under_a_request_answers_503(sessions) -> None:
    import httpx

    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/killed")
    async def killed() -> int:
        async with sessions() as session:
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            return 1

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/killed")
    assert r.status_code == 503 and r.json()["code"] == "ops.database_unavailable"


def retrying_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RetryAfterDatabaseFailure)
    return app


async def terminate_all(engine: AsyncEngine) -> int:
    """What an operator's pg_terminate_backend over the database does (issue 12's fault),
    waiting until each backend is gone."""
    admin = await asyncpg.connect(
        engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        return int(
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                engine.url.database,
            )
        )
    finally:
        await admin.close()


async def test_after_every_connection_was_terminated_the_next_requests_still_succeed(
    engine: AsyncEngine,
) -> None:
    import httpx

    pooled = make_engine(engine.url.render_as_string(hide_password=False), pool_size=4)
    sessions = make_sessionmaker(pooled)
    # The driver's reads (shared.reads) on a pool of one: the one connection dies.
    single = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    reads = Reads(single, asyncio.Semaphore(1))
    tries: list[str] = []
    app = retrying_app()

    @app.post("/notes")
    async def write(note: dict[str, str]) -> dict[str, int]:
        tries.append("write")
        async with sessions() as session, session.begin():
            await session.execute(
                text("INSERT INTO retry_notes VALUES (:body)"), {"body": note["body"]}
            )
            count = await session.scalar(
                text("SELECT count(*) FROM retry_notes WHERE body = :body"), {"body": note["body"]}
            )
        return {"count": int(count or 0)}

    @app.get("/read")
    async def read() -> int:
        tries.append("read")
        row = await reads.row(BACKEND)
        assert row is not None
        return int(row["pid"])

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            async with sessions() as session, session.begin():
                await session.execute(text("CREATE TABLE IF NOT EXISTS retry_notes (body text)"))
            # Fill the pool, then lose every connection in it.
            await asyncio.gather(*(client.post("/notes", json={"body": "warm"}) for _ in range(4)))
            assert await terminate_all(pooled) >= 1
            tries.clear()
            body = f"note-{uuid.uuid4()}"
            written = await client.post("/notes", json={"body": body})
            # Answered as if nothing happened, the body read again, the note written once.
            assert written.status_code == 200, written.text
            assert written.json() == {"count": 1}
            assert tries == ["write", "write"]

            before = (await client.get("/read")).json()
            assert await terminate_all(single) >= 1
            tries.clear()
            read = await client.get("/read")
            assert read.status_code == 200 and tries == ["read", "read"]
            assert read.json() != before  # on a fresh connection
    finally:
        await pooled.dispose()
        await single.dispose()


async def test_a_database_that_stays_away_is_tried_once_more_then_503(sessions) -> None:
    import httpx

    tries = []
    app = retrying_app()

    @app.get("/killed")
    async def killed() -> int:
        tries.append(1)
        async with sessions() as session:
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            return 1

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/killed")
    assert r.status_code == 503 and r.json()["code"] == "ops.database_unavailable"
    assert r.headers["retry-after"] == "1" and len(tries) == 2


async def test_the_victim_of_a_deadlock_is_tried_once_more_and_both_requests_succeed(
    sessions,
) -> None:
    import httpx

    # Two requests update the same two rows in opposite orders, each holding its first row
    # until the other holds its own: PostgreSQL breaks the deadlock by rolling one back.
    tries: list[str] = []
    arrived: list[str] = []
    both = asyncio.Event()
    app = retrying_app()

    @app.post("/cross/{first}/{second}")
    async def cross(first: int, second: int) -> int:
        tries.append(f"{first}{second}")
        async with sessions() as session, session.begin():
            bump = text("UPDATE deadlock_rows SET n = n + 1 WHERE id = :id")
            await session.execute(bump, {"id": first})
            arrived.append(f"{first}{second}")
            if len(arrived) == 2:
                both.set()
            await both.wait()
            await session.execute(bump, {"id": second})
        return first

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with sessions() as session, session.begin():
        await session.execute(text("DROP TABLE IF EXISTS deadlock_rows"))
        await session.execute(text("CREATE TABLE deadlock_rows (id int PRIMARY KEY, n int)"))
        await session.execute(text("INSERT INTO deadlock_rows VALUES (1, 0), (2, 0)"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answers = await asyncio.gather(client.post("/cross/1/2"), client.post("/cross/2/1"))
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert len(tries) == 3  # the victim's second try, after the other committed
    async with sessions() as session:
        counts = (await session.execute(text("SELECT n FROM deadlock_rows ORDER BY id"))).all()
    assert [n for (n,) in counts] == [2, 2]  # each request's two updates, once


async def test_a_transaction_rolled_back_again_on_its_second_try_answers_503(sessions) -> None:
    import httpx

    tries = []
    app = retrying_app()

    @app.post("/unlucky")
    async def unlucky() -> int:
        tries.append(1)
        async with sessions() as session, session.begin():
            await session.execute(
                text(
                    "DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' "
                    "USING ERRCODE = 'serialization_failure'; END $$"
                )
            )
        return 1

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/unlucky")
    assert r.status_code == 503 and r.json()["code"] == "ops.database_busy"
    assert r.headers["retry-after"] == "1" and len(tries) == 2


class ProtocolBreaking(asyncpg.Connection):  # type: ignore[misc]
    """A driver connection whose next statement, once armed, meets what a terminated backend
    leaves when its goodbye arrives in the middle of an operation before the socket's close is
    seen: asyncpg's protocol in a state it cannot leave, the connection not (yet) closed."""

    armed: ClassVar[list[int]] = []

    def _break_if_armed(self) -> None:
        if ProtocolBreaking.armed:
            ProtocolBreaking.armed.pop()
            raise asyncpg.InternalClientError(
                "cannot switch to state 12; another operation (2) is in progress"
            )

    async def prepare(self, *args: Any, **kwargs: Any) -> Any:  # a session's statement
        self._break_if_armed()
        return await super().prepare(*args, **kwargs)

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:  # a hot read's (shared.reads)
        self._break_if_armed()
        return await super().fetch(*args, **kwargs)

    async def copy_records_to_table(self, *args: Any, **kwargs: Any) -> Any:  # shared.db.copy_rows
        self._break_if_armed()
        return await super().copy_records_to_table(*args, **kwargs)


async def test_a_connection_whose_protocol_broke_is_tried_again_not_500(
    engine: AsyncEngine,
) -> None:
    import httpx

    breaking = create_async_engine(
        engine.url, connect_args={"connection_class": ProtocolBreaking}, pool_size=2
    )
    sessions = make_sessionmaker(breaking)
    tries = []
    texts = itertools.count()
    app = retrying_app()

    @app.post("/sign-up")
    async def sign_up() -> int:
        tries.append(1)
        async with sessions() as session, session.begin():
            # A text of its own each time: a cached statement is not prepared again.
            return int((await session.execute(text(f"SELECT {next(texts)}"))).scalar_one())

    reads = Reads(breaking, asyncio.Semaphore(2))

    @app.get("/read")
    async def read() -> int:
        tries.append(1)
        row = await reads.row(BACKEND)
        assert row is not None
        return int(row["pid"])

    @app.post("/import")
    async def import_rows() -> int:
        tries.append(1)
        async with sessions() as session, session.begin():
            await session.execute(text("CREATE TEMP TABLE imported (n int) ON COMMIT DROP"))
            await copy_rows(session, "imported", [{"n": 1}, {"n": 2}])
            return int(await session.scalar(text("SELECT count(*) FROM imported")) or 0)

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for method, path in (("POST", "/sign-up"), ("GET", "/read"), ("POST", "/import")):
                # The pool connected, then the driver breaks under the route's statement.
                assert (await client.request(method, path)).status_code == 200
                ProtocolBreaking.armed.append(1)
                tries.clear()
                r = await client.request(method, path)
                # Not a bug of the request's: tried once more, and answered.
                assert r.status_code == 200, r.text
                assert len(tries) == 2
                ProtocolBreaking.armed[:] = [1, 1]
                tries.clear()
                r = await client.request(method, path)
                # Broken again on the second try: 503, for the client to try shortly.
                assert r.status_code == 503 and r.json()["code"] == "ops.database_unavailable"
                assert len(tries) == 2
    finally:
        ProtocolBreaking.armed.clear()
        await breaking.dispose()


async def test_a_service_we_call_that_does_not_answer_is_503() -> None:
    import httpx

    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/directory")
    async def directory() -> int:
        async with httpx.AsyncClient(timeout=1) as client:
            await client.get(f"http://127.0.0.1:{closed_port()}/orgs")
        return 1

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/directory")
    assert r.status_code == 503 and r.json()["code"] == "ops.dependency_unavailable"
    assert r.headers["retry-after"] == "1"
