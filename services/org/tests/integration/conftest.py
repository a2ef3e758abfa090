"""The org service in-process on a fresh database migrated by Alembic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from org.main import SERVICE_ROOT, create_app
from org.settings import OrgSettings
from shared.caller import SYSTEM_CALLER, sign_caller
from shared.db import drop_database, make_engine
from shared.testing import migrated_database, run_id, test_platform
from shared.testing_app import running_app


@pytest.fixture(scope="session")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OrgSettings]:
    platform = test_platform(f"test_{run_id()}", "amqp://guest:guest@127.0.0.1:5672/")
    settings = OrgSettings(
        platform=platform, documents_dir=Path(tmp_path_factory.mktemp("documents"))
    )
    await migrated_database(settings.resolved_database_url(), SERVICE_ROOT)
    yield settings
    await drop_database(settings.resolved_database_url())


@pytest.fixture(scope="session")
async def client(settings: OrgSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="session")
async def root_id(client: httpx.AsyncClient, settings: OrgSettings) -> str:
    r = await client.post(
        "/internal/orgs/root",
        json={"name": "共青团测试省委员会"},
        headers=sign_caller(SYSTEM_CALLER, settings.platform.internal_secret),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


@pytest.fixture
async def outbox_types(settings: OrgSettings):  # type: ignore[no-untyped-def]
    """A function returning the types of events written to the outbox so far, oldest first."""
    engine = make_engine(settings.resolved_database_url(), instrument=False)

    async def read() -> list[str]:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT type FROM outbox ORDER BY created_at, id"))
            return [r.type for r in rows]

    yield read
    await engine.dispose()
