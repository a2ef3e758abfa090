"""A throw-away vhost and database for the shared library's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import drop_database, make_engine, make_sessionmaker
from shared.settings import PlatformSettings
from shared.testing import create_vhost, delete_vhost, migrated_database, run_id, test_platform

# A minimal service with just the messaging tables, migrated through Alembic like a real one.
FIXTURE_SERVICE = Path(__file__).parent / "messaging_service"


@pytest.fixture(scope="session")
def prefix() -> str:
    return f"test_{run_id()}"


@pytest.fixture(scope="session")
def amqp_url(prefix: str) -> Iterator[str]:
    url = create_vhost(prefix)
    yield url
    delete_vhost(prefix)


@pytest.fixture(scope="session")
def platform(prefix: str, amqp_url: str) -> PlatformSettings:
    return test_platform(prefix, amqp_url)


@pytest.fixture(scope="session")
async def engine(platform: PlatformSettings) -> AsyncIterator[AsyncEngine]:
    url = f"{platform.database_server_url}/{platform.db_prefix}_messaging"
    await migrated_database(url, FIXTURE_SERVICE)
    engine = make_engine(url, instrument=False)
    yield engine
    await engine.dispose()
    await drop_database(url)


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)
