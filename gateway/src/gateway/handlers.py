"""Keeping the in-memory state current: event consumers, and the snapshots they start from.

The handlers need no inbox: applying an org revision or a freeze twice changes nothing more.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx

from gateway.maintenance import MaintenanceWindows, Window
from gateway.proxy import Upstreams
from gateway.scope import FrozenAccounts
from shared.bus import Bus, EventHandler, PermanentError, Subscription
from shared.events import (
    ORG_EVENTS,
    AccountFrozen,
    AccountUnfrozen,
    AnnouncementPublished,
    AnnouncementWithdrawn,
    Envelope,
    Event,
    OrgSnapshot,
)
from shared.logging import get_logger
from shared.orgtree import OrgNode, OrgTree, node_from_internal_json

log = get_logger(__name__)
FROZEN_REFRESH_SECONDS = 60.0
WINDOWS_REFRESH_SECONDS = 60.0

BusFactory = Callable[[], Bus]


def state_handlers(
    tree: OrgTree, frozen: FrozenAccounts, windows: MaintenanceWindows
) -> dict[str, EventHandler]:
    async def on_org(event: Event, _: Envelope) -> None:
        if not isinstance(event, OrgSnapshot):
            raise PermanentError(f"not an organisation event: {event.type}")
        tree.apply(OrgNode.from_event(event))

    async def on_frozen(event: Event, _: Envelope) -> None:
        if not isinstance(event, AccountFrozen):
            raise PermanentError(f"not account.frozen: {event.type}")
        frozen.freeze(event.account_id, event.frozen_at)

    async def on_unfrozen(event: Event, _: Envelope) -> None:
        if not isinstance(event, AccountUnfrozen):
            raise PermanentError(f"not account.unfrozen: {event.type}")
        frozen.unfreeze(event.account_id, event.unfrozen_at)

    async def on_announced(event: Event, _: Envelope) -> None:
        if not isinstance(event, AnnouncementPublished):
            raise PermanentError(f"not announcement.published: {event.type}")
        if event.read_only:
            windows.add(Window(event.announcement_id, event.starts_at, event.ends_at))

    async def on_withdrawn(event: Event, _: Envelope) -> None:
        if not isinstance(event, AnnouncementWithdrawn):
            raise PermanentError(f"not announcement.withdrawn: {event.type}")
        windows.withdraw(event.announcement_id)

    handlers: dict[str, EventHandler] = dict.fromkeys(ORG_EVENTS, on_org)
    handlers["account.frozen"] = on_frozen
    handlers["account.unfrozen"] = on_unfrozen
    handlers["announcement.published"] = on_announced
    handlers["announcement.withdrawn"] = on_withdrawn
    return handlers


def state_subscription(
    instance: str,
    tree: OrgTree,
    frozen: FrozenAccounts,
    windows: MaintenanceWindows,
    expires_ms: int | None = None,
) -> Subscription:
    # One queue per gateway instance: each process keeps its own full copy of the state.
    return Subscription(
        f"gateway.{instance}.state", state_handlers(tree, frozen, windows), expires_ms=expires_ms
    )


async def _items(upstreams: Upstreams, service: str, path: str) -> list[Any]:
    """All items of an internal list, following `next_cursor` should the service page it."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        response = await upstreams.system_get(
            service, path, params={"cursor": cursor} if cursor else None
        )
        response.raise_for_status()
        body = response.json()
        items.extend(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return items


class StateFeed:
    """Consumes events first, then loads snapshots, so nothing falls between the two.

    An unreachable broker or service is retried in the background; the gateway serves
    meanwhile, and loads the snapshots again once the broker is back (events may have been
    missed while it was not consuming).
    """

    def __init__(
        self,
        upstreams: Upstreams,
        tree: OrgTree,
        frozen: FrozenAccounts,
        instance: str,
        bus_factory: BusFactory | None,
        retry_delay: float = 1.0,
        windows: MaintenanceWindows | None = None,
        queue_expires_ms: int | None = None,
    ) -> None:
        self.upstreams = upstreams
        self.tree = tree
        self.frozen = frozen
        self.windows = windows if windows is not None else MaintenanceWindows()
        self.instance = instance
        self.queue_expires_ms = queue_expires_ms
        self._bus_factory = bus_factory
        self._bus: Bus | None = None
        self._retry_delay = retry_delay
        self.consuming = False
        self.orgs_loaded = False
        self.frozen_loaded = False

    async def run(self) -> None:
        refresher = asyncio.create_task(self._refresh_frozen(), name="gateway-frozen-refresh")
        # Apart from the other snapshots: the gateway must not wait on the activities service.
        windows = asyncio.create_task(self._follow_windows(), name="gateway-windows")
        try:
            await self._run()
        finally:
            refresher.cancel()
            windows.cancel()

    async def _follow_windows(self, every: float = WINDOWS_REFRESH_SECONDS) -> None:
        """The maintenance windows now, then again every minute (a window published while the
        broker was away is applied within a minute all the same)."""
        while True:
            await _retry("windows_snapshot", self.load_windows)
            await asyncio.sleep(every)

    async def load_windows(self) -> None:
        self.windows.begin_snapshot()
        try:
            items = await _items(self.upstreams, "activities", "/internal/maintenance-windows")
        except BaseException:
            self.windows.abandon_snapshot()
            raise
        self.windows.finish_snapshot(
            Window(
                uuid.UUID(str(i["id"])),
                datetime.fromisoformat(str(i["starts_at"])),
                datetime.fromisoformat(str(i["ends_at"])),
            )
            for i in items
        )
        log.info("windows_snapshot_loaded", windows=len(self.windows))

    async def _refresh_frozen(self, every: float = FROZEN_REFRESH_SECONDS) -> None:
        """The frozen list again now and then: a service that was down at start-up, or an event
        lost to an operator's mistake, must not leave a frozen account working for long."""
        while True:
            await asyncio.sleep(every)
            await _retry("frozen_snapshot", self.load_frozen)

    async def _run(self) -> None:
        connected = await self._connect()
        await self.load_snapshots()
        delay = self._retry_delay
        while not connected:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            connected = await self._connect()
            if connected:
                await self.load_snapshots()

    async def _connect(self) -> bool:
        if self._bus_factory is None:
            return True
        bus = self._bus_factory()
        try:
            await asyncio.wait_for(bus.connect(), timeout=10.0)
            await bus.consume(
                state_subscription(
                    self.instance, self.tree, self.frozen, self.windows, self.queue_expires_ms
                )
            )
        except Exception as exc:  # the broker can fail in many ways; all mean "try again later"
            log.warning("broker_unavailable", error=type(exc).__name__)
            await _close_quietly(bus)
            return False
        self._bus = bus
        self.consuming = True
        return True

    async def load_snapshots(self) -> None:
        await asyncio.gather(
            _retry("org_snapshot", self.load_orgs), _retry("frozen_snapshot", self.load_frozen)
        )

    async def load_orgs(self) -> None:
        items = await _items(self.upstreams, "org", "/internal/orgs")
        self.tree.apply_all(node_from_internal_json(item) for item in items)
        self.orgs_loaded = True
        log.info("org_snapshot_loaded", orgs=len(self.tree))

    async def load_frozen(self) -> None:
        self.frozen.begin_snapshot()
        items = await _items(self.upstreams, "identity", "/internal/accounts/frozen")
        self.frozen.finish_snapshot(uuid.UUID(str(item)) for item in items)
        self.frozen_loaded = True
        log.info("frozen_snapshot_loaded", accounts=len(self.frozen))

    async def close(self) -> None:
        if self._bus is not None:
            await _close_quietly(self._bus)
            self._bus = None
            self.consuming = False


async def _retry(what: str, load: Callable[[], Awaitable[None]]) -> None:
    delay = 0.25
    while True:
        try:
            await load()
            return
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("snapshot_unavailable", snapshot=what, error=type(exc).__name__)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


async def _close_quietly(bus: Bus) -> None:
    try:
        await bus.close()
    except Exception as exc:  # closing a half-open connection may fail; nothing to recover
        log.debug("bus_close_failed", error=type(exc).__name__)
