"""What every service process is built from, and the runners of the processes without HTTP.

A service is described once (`ServiceSpec`); each role builds only what it uses. The `events`
role runs a service's outbox relay and its event consumers in one process (half the processes,
and the memory, of running `relay` and `consume` apart, which stays possible). Nothing here
imports the HTTP stack: a process that serves no HTTP never loads FastAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.bus import Bus, LatestOnly, Subscription
from shared.db import asyncpg_dsn, make_engine, make_sessionmaker
from shared.heap import settle_heap
from shared.logging import configure_logging
from shared.outbox import OutboxRelay
from shared.reads import Reads
from shared.settings import ServiceSettings
from shared.telemetry import setup_tracing

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI


@dataclass
class Resources:
    """What a process builds at start-up and hands to routes and handlers."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Sessions for reads that write nothing: no transaction, so one round trip per statement
    # instead of BEGIN, statement, ROLLBACK (see shared.http.ReadSessionDep).
    read_sessions: async_sessionmaker[AsyncSession]
    # Requests take turns for the pool's connections first come, first served. The pool's own
    # queue lets a newcomer take a connection a waiter was just woken for, and under load some
    # requests waited half a second while others passed (p99 ~600 ms at 32 clients, p50 ~25).
    db_turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(20))
    extra: dict[str, Any] = field(default_factory=dict)
    # Hot reads on the driver, from the same pool and in the same turns (shared.reads).
    reads: Reads = field(init=False)

    def __post_init__(self) -> None:
        self.reads = Reads(self.engine, self.db_turns)


SubscriptionFactory = Callable[[Resources], list[Subscription]]
StartupHook = Callable[[Resources, "FastAPI"], Awaitable[None]]
# The API's routers, built when the API role starts: the other roles never import them.
RouterFactory = Callable[[], Sequence["APIRouter"]]


def _no_routers() -> Sequence[APIRouter]:
    return ()


@dataclass
class ServiceSpec:
    """Everything the shared runners need to know about one service."""

    name: str
    settings: ServiceSettings
    root: Path  # the service folder: alembic.ini and migrations/
    routers: RouterFactory = _no_routers
    subscriptions: SubscriptionFactory = lambda _: []
    # Work queues of commands (`worker` role): processes that can run in any number and share
    # the work, as the month start's bill generation does.
    work: SubscriptionFactory = lambda _: []
    # Events it publishes at a flood's rate that nobody consumes: only the latest kept.
    latest_only: Sequence[LatestOnly] = ()
    # What a worker does besides its queues, until `stop` (a clock: the month start's opening).
    # Every worker runs it: it must be safe to run in any number at once.
    worker_duty: Callable[[Resources, asyncio.Event], Awaitable[None]] | None = None
    on_startup: StartupHook | None = None
    # The service's own gauges, brought up to date from its database when /metrics is scraped
    # (the month start's progress, ...).
    on_scrape: Callable[[AsyncSession], Awaitable[None]] | None = None
    has_database: bool = True


def build_resources(settings: ServiceSettings, *, background: bool = False) -> Resources:
    """A process's pool and sessions; `background` for a process without HTTP, whose pool is
    `background_db_pool_size`."""
    platform = settings.platform
    pool_size = platform.background_db_pool_size if background else platform.db_pool_size
    engine = make_engine(settings.resolved_database_url(), pool_size=pool_size)
    return Resources(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        read_sessions=make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT")),
        db_turns=asyncio.Semaphore(pool_size),
    )


@contextlib.asynccontextmanager
async def resources_of(settings: ServiceSettings) -> AsyncIterator[Resources]:
    """A service's resources for one operator command, its pool closed when the command ends."""
    resources = build_resources(settings)
    try:
        yield resources
    finally:
        await resources.engine.dispose()


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


@contextlib.asynccontextmanager
async def _background_process(
    spec: ServiceSpec, role: str
) -> AsyncIterator[tuple[Resources, asyncio.Event]]:
    """The set-up a process without HTTP runs in, torn down when it ends: logging and tracing
    under `<service>-<role>`, the resources, and an event that SIGINT or SIGTERM sets."""
    settings = spec.settings
    configure_logging(
        f"{spec.name}-{role}", settings.platform.log_level, settings.platform.log_json
    )
    setup_tracing(spec.name, settings.platform)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    resources = build_resources(settings, background=True)
    # As in the APIs: a full collection walking every module took the fees relay 30-70 ms, a
    # pause for every event in flight.
    settle_heap()
    try:
        yield resources, stop
    finally:
        await resources.engine.dispose()


@contextlib.asynccontextmanager
async def _connected(spec: ServiceSpec, name: str) -> AsyncIterator[Bus]:
    bus = Bus(spec.settings.platform, f"{spec.name}-{name}")
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.close()


async def _relay(spec: ServiceSpec, resources: Resources, bus: Bus, stop: asyncio.Event) -> None:
    relay = OutboxRelay(
        resources.sessions,
        bus,
        asyncpg_dsn(spec.settings.resolved_database_url()),
        exit_after_publish=spec.settings.platform.fault_relay_exit_after_publish,
    )
    await relay.run(stop)


async def _consume(
    spec: ServiceSpec, resources: Resources, bus: Bus, factory: SubscriptionFactory | None = None
) -> None:
    for subscription in (factory or spec.subscriptions)(resources):
        await bus.consume(subscription)


async def run_relay(spec: ServiceSpec) -> None:
    async with (
        _background_process(spec, "relay") as (resources, stop),
        _connected(spec, "relay") as bus,
    ):
        await _relay(spec, resources, bus, stop)


async def run_consumers(spec: ServiceSpec) -> None:
    async with (
        _background_process(spec, "consumer") as (resources, stop),
        _connected(spec, "consumer") as bus,
    ):
        await _consume(spec, resources, bus)
        await stop.wait()


async def run_worker(spec: ServiceSpec) -> None:
    """Takes commands from the service's work queues; run as many as the work needs."""
    async with (
        _background_process(spec, "worker") as (resources, stop),
        _connected(spec, "worker") as bus,
    ):
        await _consume(spec, resources, bus, spec.work)
        if spec.worker_duty is not None:
            await spec.worker_duty(resources, stop)
        await stop.wait()


async def run_events(spec: ServiceSpec) -> None:
    """The relay and the consumers in one process, each on its own broker connection: the
    broker slows a connection that publishes too fast, and that must not hold back acks."""
    async with (
        _background_process(spec, "events") as (resources, stop),
        _connected(spec, "relay") as publishing,
        _connected(spec, "consumer") as consuming,
    ):
        await _consume(spec, resources, consuming)
        await _relay(spec, resources, publishing, stop)
