"""`zhtj-org backup` and `restore` on a real database while the API runs: the restored service
holds exactly what the backup held, its outbox neither republishes what was sent nor loses what
was not, its inbox still recognises what it applied, and the API carries on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from org.main import SERVICE_ROOT, create_app
from org.settings import OrgSettings
from shared import testing
from shared.backup import libpq_url
from shared.caller import SYSTEM_CALLER, sign_caller
from shared.db import drop_database
from shared.testing import caller_headers, migrated_database, run_id
from shared.testing_app import running_app

from .test_org_api import create

ZHTJ_ORG = str(Path(sys.executable).parent / "zhtj-org")
APPLIED = "INSERT INTO inbox (consumer, event_id) VALUES ('org.members', $1)"


@pytest.fixture(scope="module")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OrgSettings]:
    platform = testing.test_platform(f"test_{run_id()}_bk", "amqp://guest:guest@127.0.0.1:5672/")
    settings = OrgSettings(platform=platform, documents_dir=tmp_path_factory.mktemp("documents"))
    await migrated_database(settings.resolved_database_url(), SERVICE_ROOT)
    yield settings
    url = settings.resolved_database_url()
    await drop_database(url)
    admin = await asyncpg.connect(libpq_url(url, "postgres"))
    try:  # the replaced databases a restore keeps for the operator
        for name in await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            f"{settings.platform.db_prefix}_org_%",
        ):
            await admin.execute(f'DROP DATABASE "{name[0]}" WITH (FORCE)')
    finally:
        await admin.close()


def zhtj_org(settings: OrgSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEAGUE_DB_PREFIX": settings.platform.db_prefix}
    return subprocess.run(
        [ZHTJ_ORG, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def rows(settings: OrgSettings, sql: str, *args: object) -> list[Any]:
    conn = await asyncpg.connect(libpq_url(settings.resolved_database_url()))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def children(client: httpx.AsyncClient, headers: dict[str, str], root: str) -> set[str]:
    for _ in range(2):  # the first request after the swap may find its pooled connection gone
        r = await client.get(f"/orgs/{root}/children", headers=headers)
        if r.status_code != 503:
            break
    assert r.status_code == 200, r.text
    return {item["name"] for item in r.json()["items"]}


async def test_a_restore_brings_back_the_backup_and_its_events_exactly(
    settings: OrgSettings, tmp_path: Path
) -> None:
    secret = settings.platform.internal_secret
    async with running_app(create_app(settings)) as client:
        root = await client.post(
            "/internal/orgs/root",
            json={"name": "共青团备份省委员会"},
            headers=sign_caller(SYSTEM_CALLER, secret),
        )
        root_id = str(root.json()["id"])
        headers = caller_headers(secret, "admin", root_id)
        for name in ("甲市委", "乙市委"):
            assert (await create(client, headers, root_id, name)).status_code == 201
        # The relay published the first events; one applied event sits in the inbox.
        await rows(
            settings,
            "UPDATE outbox SET sent_at = now() WHERE id IN "
            "(SELECT id FROM outbox ORDER BY created_at, id LIMIT 2)",
        )
        applied = uuid.uuid4()
        await rows(settings, APPLIED, applied)
        outbox_at_backup = await rows(settings, "SELECT id, sent_at FROM outbox ORDER BY id")
        assert sum(r["sent_at"] is None for r in outbox_at_backup) >= 1

        dump = tmp_path / "org.dump"
        done = zhtj_org(settings, "backup", "--out", str(dump))
        assert done.returncode == 0, done.stderr
        manifest = json.loads(done.stdout)
        assert manifest["outbox_rows"] == len(outbox_at_backup) and manifest["inbox_rows"] == 1

        # Life goes on after the backup: a new organisation, everything published, more applied.
        assert (await create(client, headers, root_id, "丙市委")).status_code == 201
        await rows(settings, "UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL")
        await rows(settings, APPLIED, uuid.uuid4())
        assert await children(client, headers, root_id) == {"甲市委", "乙市委", "丙市委"}

        done = zhtj_org(settings, "restore", str(dump))
        assert done.returncode == 0, done.stderr

        # What the backup held, no more, no less, through the running API.
        assert await children(client, headers, root_id) == {"甲市委", "乙市委"}
        # Sent events stay sent (never published again); unsent ones go out with their own ids.
        assert (
            await rows(settings, "SELECT id, sent_at FROM outbox ORDER BY id") == outbox_at_backup
        )
        inbox = await rows(settings, "SELECT event_id FROM inbox")
        assert [r["event_id"] for r in inbox] == [applied]
        # And the service keeps working on the restored database.
        assert (await create(client, headers, root_id, "丁市委")).status_code == 201


def name_another_service(manifest: Path) -> None:
    manifest.write_text(manifest.read_text().replace('"org"', '"fees"'))


async def test_a_damaged_or_foreign_dump_changes_nothing(
    settings: OrgSettings, tmp_path: Path
) -> None:
    before = await rows(settings, "SELECT count(*) AS n FROM orgs")
    damaged = tmp_path / "damaged.dump"
    damaged.write_bytes(b"PGDMP not really")
    done = zhtj_org(settings, "restore", str(damaged))
    assert done.returncode == 1 and "pg_restore failed" in done.stderr

    # A good dump whose manifest names another service: the wrong file.
    dump = tmp_path / "org.dump"
    assert zhtj_org(settings, "backup", "--out", str(dump)).returncode == 0
    name_another_service(Path(f"{dump}.json"))
    done = zhtj_org(settings, "restore", str(dump))
    assert done.returncode == 1 and "restored service is 'org'" in done.stderr
    assert await rows(settings, "SELECT count(*) AS n FROM orgs") == before
    assert zhtj_org(settings, "restore", str(tmp_path / "missing.dump")).returncode == 1
