"""A database that does not answer is a 503 the client can retry, never a 500."""

from __future__ import annotations

import socket

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import make_engine, make_sessionmaker
from shared.problems import install_problem_handlers


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
