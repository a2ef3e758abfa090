"""The identity service in-process on a fresh database migrated by Alembic, with a small org tree
in its replica table (as org.* events would have left it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from identity.main import SERVICE_ROOT, create_app
from identity.service import create_account
from identity.settings import IdentitySettings
from shared.db import drop_database
from shared.orgtree import upsert_replica
from shared.process import Resources, build_resources
from shared.testing import migrated_database, org_created, run_id, test_platform
from shared.testing_app import running_app


@dataclass(frozen=True)
class Tree:
    root: uuid.UUID
    city: uuid.UUID
    county_a: uuid.UUID
    county_b: uuid.UUID


@pytest.fixture(scope="session")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IdentitySettings]:
    platform = test_platform(
        f"test_{run_id()}",
        "amqp://guest:guest@127.0.0.1:5672/",
        var_dir=Path(tmp_path_factory.mktemp("var")),
    )
    settings = IdentitySettings(platform=platform)
    await migrated_database(settings.resolved_database_url(), SERVICE_ROOT)
    yield settings
    await drop_database(settings.resolved_database_url())


@pytest.fixture(scope="session")
async def resources(settings: IdentitySettings) -> AsyncIterator[Resources]:
    """The service's engine and sessions, for fixtures that set up or read its database."""
    resources = build_resources(settings)
    yield resources
    await resources.engine.dispose()


@pytest.fixture(scope="session")
async def tree(resources: Resources) -> Tree:
    root, city, a, b = (uuid.uuid4() for _ in range(4))
    nodes = [
        ("省委", [root]),
        ("市委", [root, city]),
        ("甲县委", [root, city, a]),
        ("乙县委", [root, city, b]),
    ]
    async with resources.sessions() as session, session.begin():
        for name, path in nodes:
            await upsert_replica(session, org_created(name, path))
    return Tree(root, city, a, b)


@pytest.fixture(scope="session")
async def client(settings: IdentitySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as client:
        yield client


@pytest.fixture
def make_account(resources: Resources):  # type: ignore[no-untyped-def]
    """Create an active account directly: (username, password) -> account id."""

    async def make(
        org_id: uuid.UUID,
        password: str = "Initial-Pass-2026",
        role: str = "admin",
        must_change: bool = False,
    ) -> tuple[str, str]:
        username = f"u{uuid.uuid4().hex[:10]}"
        async with resources.sessions() as session, session.begin():
            account = await create_account(
                session,
                username=username,
                password=password,
                role=role,  # type: ignore[arg-type]
                org_id=org_id,
                member_id=None,
                must_change=must_change,
                created_by=None,
            )
        return username, str(account.id)

    return make


@pytest.fixture
def outbox_types(resources: Resources):  # type: ignore[no-untyped-def]
    async def read() -> list[str]:
        async with resources.sessions() as session:
            return [
                r.type
                for r in await session.execute(
                    text("SELECT type FROM outbox ORDER BY created_at, id")
                )
            ]

    return read
