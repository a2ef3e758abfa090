"""Backing up and restoring one service's database (`zhtj-<svc> backup` / `restore`).

A backup is one `pg_dump` snapshot: the service's tables, its outbox and its inbox as of one
instant, so they agree with each other. What that gives a restore:
- an event written before the backup and published before it stays marked sent: the relay never
  publishes it again;
- an event written before the backup but not yet published goes out after the restore with its
  original id, so a consumer that did see it (published after the backup, before the loss)
  recognises it in its inbox and does nothing;
- an event consumed before the backup stays in the inbox: delivered again (a replayed dead
  letter, a redelivery), it changes nothing.
Events consumed after the backup are lost with the rest of that period's data: a restore goes
back in time for this service alone, and the runbook says how to bring its copies up to date.

A restore is atomic for the service: the dump is loaded into a new database beside the live one
and checked; only then are the live database's connections closed and the two swapped by
renaming. The old database is kept (`<db>_before_restore_<time>`) until the operator drops it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from shared.db import asyncpg_dsn

# Tables whose rows the manifest counts: what a restore is checked against.
COUNTED = ("outbox", "inbox")


class BackupError(Exception):
    """A backup or restore that could not be done; nothing was changed."""


@dataclass(frozen=True)
class Manifest:
    """Written beside each dump (`<file>.json`): what it holds, to check a restore against."""

    service: str
    database: str
    taken_at: str
    alembic_revision: str | None
    outbox_rows: int
    outbox_unsent: int
    inbox_rows: int


def libpq_url(url: str, database: str | None = None) -> str:
    """`postgresql+asyncpg://...` as pg_dump and pg_restore read it."""
    u = make_url(url)
    if database is not None:
        u = u.set(database=database)
    return asyncpg_dsn(u.render_as_string(hide_password=False))


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        # Debian keeps the client tools per version under /usr/lib/postgresql/<v>/bin.
        versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
        if not versions:
            raise BackupError(f"{name} not found: install the PostgreSQL client tools")
        found = str(versions[0])
    return found


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}")


async def _counts(conn: asyncpg.Connection, service: str, database: str) -> Manifest:
    revision = await conn.fetchval("SELECT version_num FROM alembic_version LIMIT 1")
    outbox = await conn.fetchrow(
        "SELECT count(*) AS rows, count(*) FILTER (WHERE sent_at IS NULL) AS unsent FROM outbox"
    )
    return Manifest(
        service=service,
        database=database,
        taken_at=datetime.now(UTC).isoformat(timespec="seconds"),
        alembic_revision=revision,
        outbox_rows=int(outbox["rows"]),
        outbox_unsent=int(outbox["unsent"]),
        inbox_rows=int(await conn.fetchval("SELECT count(*) FROM inbox")),
    )


async def backup(service: str, url: str, out: Path) -> Manifest:
    """Dump the service's database to `out` (pg_dump's custom format), with its manifest beside.
    The manifest's counts and the dump are read in one exported snapshot: they agree exactly,
    however busy the service is meanwhile."""
    database = make_url(url).database or ""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    conn = await asyncpg.connect(libpq_url(url))
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            manifest = await _counts(conn, service, database)
            # The snapshot lives while this transaction is open: pg_dump reads exactly it.
            await asyncio.to_thread(
                _run,
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                f"--snapshot={snapshot}",
                f"--file={partial}",
                libpq_url(url),
            )
    finally:
        await conn.close()
    partial.rename(out)  # a dump that did not finish never looks like a backup
    manifest_path(out).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".json")


def _check_against_manifest(dump: Path, restored: Manifest) -> None:
    """The restored database holds what the backup counted, or the restore stops here."""
    path = manifest_path(dump)
    if not path.exists():
        raise BackupError(f"{path.name} is missing: a dump without its manifest is not restored")
    taken = json.loads(path.read_text())
    for field in ("service", "alembic_revision", "outbox_rows", "outbox_unsent", "inbox_rows"):
        if getattr(restored, field) != taken[field]:
            raise BackupError(
                f"the restored {field} is {getattr(restored, field)!r}, the backup's "
                f"{taken[field]!r}: wrong file or a damaged dump"
            )


async def restore(service: str, url: str, dump: Path, *, keep_old: bool = True) -> Manifest:
    """Load `dump` into a fresh database, check it, then swap it in for the live one."""
    if not dump.is_file():  # noqa: ASYNC240 - an operator command: nothing else runs here
        raise BackupError(f"no backup at {dump}")
    live = make_url(url).database or ""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    staging, old = f"{live}_restoring_{stamp}", f"{live}_before_restore_{stamp}"
    admin = await asyncpg.connect(libpq_url(url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{staging}"')
        try:
            _run(
                _tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={libpq_url(url, staging)}",
                str(dump),
            )
            restored_conn = await asyncpg.connect(libpq_url(url, staging))
            try:
                restored = await _counts(restored_conn, service, live)
            finally:
                await restored_conn.close()
            _check_against_manifest(dump, restored)
        except Exception:
            await admin.execute(f'DROP DATABASE IF EXISTS "{staging}" WITH (FORCE)')
            raise
        # The swap. The service's processes lose their connections and their pools reconnect to
        # the restored database by name: no new connection to the live one from here, then the
        # open ones are closed, so the rename finds it unused. (A database lost altogether is
        # simply replaced.)
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", live):
            await admin.execute(f'ALTER DATABASE "{live}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                live,
            )
            await admin.execute(f'ALTER DATABASE "{live}" RENAME TO "{old}"')
            if not keep_old:
                await admin.execute(f'DROP DATABASE "{old}" WITH (FORCE)')
        await admin.execute(f'ALTER DATABASE "{staging}" RENAME TO "{live}"')
        return restored
    finally:
        await admin.close()
