"""Alembic glue every service's migrations use: the env.py body, messaging tables, programmatic upgrade."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.member_copy import STAMPED_FIELDS

# The outbox and inbox every service has; created by each service's first migration.
MESSAGING_DDL = [
    """
    CREATE TABLE outbox (
        id uuid PRIMARY KEY,
        type text NOT NULL,
        version integer NOT NULL,
        envelope jsonb NOT NULL,
        trace_context jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz
    )
    """,
    # The relay only ever looks for unsent rows, oldest first.
    "CREATE INDEX outbox_unsent ON outbox (created_at, id) WHERE sent_at IS NULL",
    "CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL",
    """
    CREATE TABLE inbox (
        event_id uuid NOT NULL,
        consumer text NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (event_id, consumer)
    )
    """,
]

# A copy of the organisation tree fed by org.* events (see shared.orgtree).
ORG_REPLICA_DDL = [
    """
    CREATE TABLE org_replica (
        id uuid PRIMARY KEY,
        parent_id uuid,
        path uuid[] NOT NULL,
        name text NOT NULL,
        org_type text NOT NULL,
        status text NOT NULL,
        revision bigint NOT NULL
    )
    """,
    "CREATE INDEX org_replica_path ON org_replica USING gin (path)",
]


def create_messaging_tables() -> None:
    for ddl in MESSAGING_DDL:
        op.execute(ddl)


def create_org_replica_table() -> None:
    for ddl in ORG_REPLICA_DDL:
        op.execute(ddl)


def run_env(target_metadata: MetaData) -> None:
    """The whole body of a service's migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url (the service's database URL)"

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())


def alembic_config(service_root: Path, url: str) -> Config:
    cfg = Config(str(service_root / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_root / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def head_revisions(service_root: Path, url: str) -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(service_root, url)).get_heads())


async def current_revisions(url: str) -> set[str]:
    """The database's revisions (none when it or its version table does not exist yet)."""
    import asyncpg

    from shared.db import asyncpg_dsn

    try:
        connection = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    except (OSError, asyncpg.PostgresError):
        return set()
    try:
        rows = await connection.fetch("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return set()
    finally:
        await connection.close()
    return {r["version_num"] for r in rows}


async def wait_for_schema(service_root: Path, url: str) -> None:
    """Until the database's schema is this code's head (a release's migration Job has run):
    what a pod waits for before its process starts; the caller bounds it (asyncio.timeout)."""
    heads = head_revisions(service_root, url)
    while True:  # the database is asked: nothing here could set an event
        if await current_revisions(url) == heads:
            return
        await asyncio.sleep(2.0)


def upgrade_head(service_root: Path, url: str) -> None:
    """Run in a thread or process without a running event loop (env.py calls asyncio.run)."""
    command.upgrade(alembic_config(service_root, url), "head")


# Who did what to whom, and under which trace: every write that matters and every reveal.
AUDIT_DDL = [
    """
    CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor_account_id uuid,
        actor_role text NOT NULL,
        action text NOT NULL,
        target_type text NOT NULL,
        target_id text NOT NULL,
        trace_id text
    )
    """,
    "CREATE INDEX audit_log_target ON audit_log (target_type, target_id, at)",
]


def create_audit_table() -> None:
    for ddl in AUDIT_DDL:
        op.execute(ddl)


# Responses kept for `Idempotency-Key`: a retried POST gets the first answer (see shared.idempotency).
IDEMPOTENCY_DDL = [
    """
    CREATE TABLE idempotency_keys (
        account_id uuid NOT NULL,
        key text NOT NULL,
        request_hash varchar(64) NOT NULL,
        status_code integer NOT NULL,
        response jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, key)
    )
    """,
    "CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at)",
]


def create_idempotency_table() -> None:
    for ddl in IDEMPOTENCY_DDL:
        op.execute(ddl)


def create_member_copy_tables(members: str, waiting: str) -> None:
    """A service's copy of members (shared.member_copy.MemberCopy): what member.* events say
    of each member, never an ID or phone number; and the changes that came before their member."""
    op.execute(
        f"""
        CREATE TABLE {members} (
            member_id uuid PRIMARY KEY,
            branch_id uuid NOT NULL,
            name text NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'active',
            joined_on date NOT NULL,
            copied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE {waiting} (
            member_id uuid PRIMARY KEY,
            name text,
            status varchar(16),
            branch_id uuid,
            noted_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def add_member_copy_stamps(members: str, waiting: str) -> None:
    """When each copied field's last change occurred (its event's `occurred_at`), in the copy
    and among the changes waiting for their member: a change that arrives late (from a retry,
    or another consumer process) must not undo a newer one. NULL in the copy: as created."""
    for table in (members, waiting):
        for _, stamp in STAMPED_FIELDS:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {stamp} timestamptz")


def drop_member_copy_stamps(members: str, waiting: str) -> None:
    for table in (members, waiting):
        for _, stamp in STAMPED_FIELDS:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {stamp}")


# A migration that alters a table the running system writes (a deployment during the month start)
# gives up rather than queue every write behind it for long: `SET lock_timeout` at its start.
LOCK_TIMEOUT = "5s"


def replace_check(table: str, name: str, values: str) -> None:
    """A CHECK constraint replaced without holding writes back while the table is read: the new
    one is added NOT VALID beside the old (a brief lock), validated outside the migration's
    transaction (under a lock that lets rows be written meanwhile: inside it, the ALTER's own
    exclusive lock would last through the whole read), then takes the old one's name. Run again
    after a failure, it starts over."""
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}_next")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name}_next CHECK {values} NOT VALID")
    with op.get_context().autocommit_block():
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}_next")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
        op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {name}_next TO {name}")


def create_index_concurrently(name: str, definition: str) -> None:
    """`CREATE INDEX CONCURRENTLY name definition` (`ON table (...) [WHERE ...]`), outside the
    migration's transaction, so that the system's writes go on while it is built. A build that
    was interrupted leaves an invalid index, which IF NOT EXISTS would keep for good and no
    query would use: it is dropped and built again."""
    with op.get_context().autocommit_block():
        invalid = op.get_bind().scalar(
            text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": name},
        )
        if invalid:
            op.execute(f"DROP INDEX CONCURRENTLY {name}")
        op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")
