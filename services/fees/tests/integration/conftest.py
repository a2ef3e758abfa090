"""The fees service in-process on a fresh database migrated by Alembic, with a small tree in its
org copy: a city with two counties, each with a branch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from fees.main import SERVICE_ROOT, create_app
from fees.provider import FakeProvider
from fees.settings import FeesSettings
from shared.db import drop_database
from shared.process import build_resources
from shared.testing import (
    BranchTree,
    caller_headers,
    migrated_database,
    run_id,
    seed_branch_tree,
    test_platform,
)
from shared.testing_app import running_app

# Province → city → two counties, each with a branch, in the org copy.
Tree = BranchTree


@pytest.fixture(scope="session")
async def settings() -> AsyncIterator[FeesSettings]:
    platform = test_platform(f"test_{run_id()}", "amqp://guest:guest@127.0.0.1:5672/")
    # The stand-in provider: tests tell it to succeed, fail or time out (the `provider` fixture).
    settings = FeesSettings(platform=platform, provider="fake")
    await migrated_database(settings.resolved_database_url(), SERVICE_ROOT)
    yield settings
    await drop_database(settings.resolved_database_url())


@pytest.fixture(scope="session")
async def tree(settings: FeesSettings) -> AsyncIterator[Tree]:
    resources = build_resources(settings)
    yield await seed_branch_tree(resources.sessions)
    await resources.engine.dispose()


# The app (and its pool of up to 20 connections) per test module: held for the whole session it
# would sit on them through the end-to-end tests, which need the database's connections.
@pytest.fixture(scope="module")
def app(settings: FeesSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(app) as client:
        yield client


@pytest.fixture
def provider(app: FastAPI, client: httpx.AsyncClient) -> Iterator[FakeProvider]:
    """The running service's stand-in payment provider, back to succeeding after each test."""
    fake = app.state.resources.extra["provider"]
    assert isinstance(fake, FakeProvider)
    yield fake
    fake.mode = "succeed"
    fake.before_answering = None
    fake.before_refunding = None


@pytest.fixture(scope="session")
def admin(settings: FeesSettings) -> Callable[[uuid.UUID], dict[str, str]]:
    def headers(org_id: uuid.UUID) -> dict[str, str]:
        return caller_headers(settings.platform.internal_secret, "admin", org_id, uuid.uuid4())

    return headers


@pytest.fixture(scope="session")
def member_caller(settings: FeesSettings) -> Callable[[uuid.UUID, uuid.UUID], dict[str, str]]:
    def headers(branch_id: uuid.UUID, member_id: uuid.UUID) -> dict[str, str]:
        return caller_headers(
            settings.platform.internal_secret, "member", branch_id, member_id=member_id
        )

    return headers


@pytest.fixture
async def db(settings: FeesSettings):  # type: ignore[no-untyped-def]
    """A statement on the service's database: to see the raw columns no API shows."""
    resources = build_resources(settings)

    async def query(sql: str, **params: Any) -> list[Any]:
        async with resources.sessions() as session, session.begin():
            result = await session.execute(text(sql), params)
            return list(result) if result.returns_rows else []

    yield query
    await resources.engine.dispose()
