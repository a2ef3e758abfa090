"""The identity service in-process on a fresh database migrated by Alembic, with a small org tree
in its replica table (as org.* events would have left it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from identity.main import SERVICE_ROOT, create_app
from identity.service import create_account
from identity.settings import IdentitySettings
from shared.app import build_resources
from shared.db import drop_database
from shared.events import OrgCreated
from shared.orgtree import upsert_replica
from shared.testing import migrated_database, run_id, test_platform
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
async def tree(settings: IdentitySettings) -> AsyncIterator[Tree]:
    root, city, a, b = (uuid.uuid4() for _ in range(4))
    nodes = [
        (root, None, [root], "省委"),
        (city, root, [root, city], "市委"),
        (a, city, [root, city, a], "甲县委"),
        (b, city, [root, city, b], "乙县委"),
    ]
    resources = build_resources(settings)
    async with resources.sessions() as session, session.begin():
        for org_id, parent, path, name in nodes:
            await upsert_replica(
                session,
                OrgCreated(
                    org_id=org_id,
                    parent_id=parent,
                    path=path,
                    name=name,
                    org_type="committee",
                    status="active",
                    revision=1,
                    founded_on=date(2026, 1, 5),
                    approved_on=date(2026, 1, 5),
                    created_late=False,
                ),
            )
    yield Tree(root, city, a, b)
    await resources.engine.dispose()


@pytest.fixture(scope="session")
async def client(settings: IdentitySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as client:
        yield client


@pytest.fixture
async def make_account(settings: IdentitySettings):  # type: ignore[no-untyped-def]
    """Create an active account directly: (username, password) -> account id."""
    resources = build_resources(settings)

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

    yield make
    await resources.engine.dispose()


@pytest.fixture
async def outbox_types(settings: IdentitySettings):  # type: ignore[no-untyped-def]
    resources = build_resources(settings)

    async def read() -> list[str]:
        async with resources.sessions() as session:
            return [
                r.type
                for r in await session.execute(
                    text("SELECT type FROM outbox ORDER BY created_at, id")
                )
            ]

    yield read
    await resources.engine.dispose()
