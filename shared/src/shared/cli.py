"""Process entry points every service offers:
`<service> api|events|relay|consume|migrate|topology|dlq|backup|restore`.

Each command imports what it runs and nothing more (the HTTP stack, Alembic): a process's
resident memory is mostly the modules it has loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.bus import Bus
from shared.db import ensure_database
from shared.deadletters import list_dead_letters, replay_dead_letters
from shared.logging import configure_logging
from shared.process import (
    ServiceSpec,
    build_resources,
    run_consumers,
    run_events,
    run_relay,
    run_worker,
)

ExtraCommand = Callable[[ServiceSpec, argparse.Namespace], int]


def _run_forever(main: Coroutine[Any, Any, None]) -> None:
    """A long-running process on uvloop (as uvicorn runs the APIs): its transports cost the relay
    and the consumers markedly less per message than the standard loop's."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _migrate(spec: ServiceSpec) -> int:
    from shared.migrations import upgrade_head

    url = spec.settings.resolved_database_url()
    created = asyncio.run(ensure_database(url))
    upgrade_head(spec.root, url)
    print(json.dumps({"service": spec.name, "database_created": created, "migrated": True}))
    return 0


def _wait_for_schema(spec: ServiceSpec, seconds: float) -> int:
    from shared.migrations import wait_for_schema

    async def waited() -> bool:
        try:
            async with asyncio.timeout(seconds):
                await wait_for_schema(spec.root, spec.settings.resolved_database_url())
        except TimeoutError:
            return False
        return True

    if asyncio.run(waited()):
        print(json.dumps({"service": spec.name, "schema": "at head"}))
        return 0
    print(
        f"zhtj-{spec.name}: the database is not at this release's schema after {seconds:.0f} s "
        "(has the migration Job run?)",
        file=sys.stderr,
    )
    return 1


async def _topology(spec: ServiceSpec) -> None:
    resources = build_resources(spec.settings)
    bus = Bus(spec.settings.platform, f"{spec.name}-topology")
    await bus.connect()
    try:
        # Work queues too: commands the API records before any worker runs are kept.
        for subscription in [*spec.subscriptions(resources), *spec.work(resources)]:
            await bus.declare(subscription)
        for latest in spec.latest_only:
            await bus.declare_latest_only(latest)
    finally:
        await bus.close()
        await resources.engine.dispose()


async def _dlq(spec: ServiceSpec, action: str, queue: str) -> int:
    bus = Bus(spec.settings.platform, f"{spec.name}-dlq")
    await bus.connect()
    try:
        if action == "list":
            for item in await list_dead_letters(bus, queue):
                print(json.dumps(item, ensure_ascii=False, default=str))
        else:
            print(json.dumps({"queue": queue, "replayed": await replay_dead_letters(bus, queue)}))
    finally:
        await bus.close()
    return 0


async def _backup_or_restore(spec: ServiceSpec, args: argparse.Namespace) -> int:
    from shared.backup import BackupError, backup, restore

    url = spec.settings.resolved_database_url()
    try:
        if args.command == "backup":
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            default = spec.settings.platform.var_dir / "backups" / f"{spec.name}-{stamp}.dump"
            out = args.out or default
            manifest = await backup(spec.name, url, out)
            print(json.dumps({"backup": str(out), **asdict(manifest)}, ensure_ascii=False))
        else:
            manifest = await restore(spec.name, url, args.dump, keep_old=not args.drop_old)
            print(json.dumps({"restored": str(args.dump), **asdict(manifest)}, ensure_ascii=False))
    except BackupError as exc:
        print(f"zhtj-{spec.name} {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


# The roles that run as processes and set up their own logging (on stdout, as a process's).
_PROCESSES = frozenset({"api", "events", "relay", "consume", "worker"})


def run_cli(
    make_spec: Callable[[], ServiceSpec],
    argv: Sequence[str] | None = None,
    extra: dict[str, tuple[ExtraCommand, Callable[[argparse.ArgumentParser], None]]] | None = None,
) -> int:
    spec = make_spec()
    parser = argparse.ArgumentParser(prog=f"zhtj-{spec.name}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("api", help="serve the HTTP API")
    sub.add_parser("events", help="publish the outbox and consume the event queues, in one process")
    sub.add_parser("relay", help="publish the outbox to the broker")
    sub.add_parser("consume", help="consume this service's event queues")
    sub.add_parser("worker", help="take commands from this service's work queues")
    sub.add_parser("migrate", help="create the database if needed and run migrations")
    sub.add_parser("topology", help="declare this service's queues and bindings")
    waiting = sub.add_parser(
        "wait-for-schema", help="wait until the database is at this release's migration head"
    )
    waiting.add_argument("--timeout", type=float, default=900.0, help="seconds (default 900)")
    dlq = sub.add_parser("dlq", help="list or replay dead letters of a queue")
    dlq.add_argument("action", choices=["list", "replay"])
    dlq.add_argument("queue")
    backup = sub.add_parser("backup", help="dump the service's database (with outbox and inbox)")
    backup.add_argument("--out", type=Path, help="the dump file (default: <var dir>/backups/...)")
    restore = sub.add_parser("restore", help="replace the service's database with a backup")
    restore.add_argument("dump", type=Path)
    restore.add_argument(
        "--drop-old", action="store_true", help="drop the replaced database (kept by default)"
    )
    for name, (_, configure) in (extra or {}).items():
        configure(sub.add_parser(name))
    args = parser.parse_args(argv)
    if args.command not in _PROCESSES:
        # A one-off command's stdout is its answer (a JSON line, the trace walk, a dump's path),
        # for a script or `jq`: its log lines go to stderr, in the services' form (JSON with the
        # trace ids where LEAGUE_LOG_JSON says so).
        platform = spec.settings.platform
        configure_logging(
            f"{spec.name}-{args.command}", platform.log_level, platform.log_json, sys.stderr
        )

    if args.command == "api":
        import uvicorn

        from shared.app import create_service_app

        workers = spec.settings.api_workers
        # Several workers: uvicorn's supervisor holds the socket, each worker builds the app
        # from the service's factory (`<service>.main:create_app`) and is restarted if it dies.
        app: Any = f"{spec.name}.main:create_app" if workers > 1 else create_service_app(spec)
        uvicorn.run(
            app,
            factory=workers > 1,
            workers=workers,
            host=spec.settings.host,
            port=spec.settings.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            # Longer than the gateway keeps an idle connection (30 s), so that the gateway, not
            # the service, closes it: never while a request is on its way.
            timeout_keep_alive=75,
        )
        return 0
    if args.command == "events":
        _run_forever(run_events(spec))
        return 0
    if args.command == "relay":
        _run_forever(run_relay(spec))
        return 0
    if args.command == "consume":
        _run_forever(run_consumers(spec))
        return 0
    if args.command == "worker":
        _run_forever(run_worker(spec))
        return 0
    if args.command == "migrate":
        return _migrate(spec)
    if args.command == "wait-for-schema":
        return _wait_for_schema(spec, args.timeout)
    if args.command == "topology":
        asyncio.run(_topology(spec))
        return 0
    if args.command == "dlq":
        return asyncio.run(_dlq(spec, args.action, args.queue))
    if args.command in {"backup", "restore"}:
        return asyncio.run(_backup_or_restore(spec, args))
    command, _ = (extra or {})[args.command]
    return command(spec, args)


def main_guard(code: int) -> None:
    sys.exit(code)
