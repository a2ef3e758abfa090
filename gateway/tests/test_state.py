"""The gateway's state from events and snapshots: the org tree and the frozen accounts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx

from gateway.handlers import StateFeed, state_handlers, state_subscription
from gateway.maintenance import MaintenanceWindows
from gateway.proxy import Upstreams
from gateway.scope import FrozenAccounts
from gateway.settings import GatewaySettings
from shared.bus import Bus, Subscription
from shared.events import AccountFrozen, AccountUnfrozen, OrgCreated, OrgUpdated
from shared.orgtree import OrgTree
from shared.settings import PlatformSettings


def _now() -> datetime:
    return datetime.now(UTC)


async def _deliver(running, event) -> None:
    feed = running.gateway.feed
    handlers = state_handlers(feed.tree, feed.frozen, feed.windows)
    await handlers[event.type](event, event.envelope("test"))


async def test_freeze_event_stops_the_token_and_unfreeze_restores_it(running, keys) -> None:
    account = uuid.uuid4()
    headers = keys.auth(sub=str(account))
    await _deliver(running, AccountFrozen(account_id=account, frozen_at=_now()))
    frozen = await running.client.get("/api/v1/me", headers=headers)
    await _deliver(running, AccountUnfrozen(account_id=account, unfrozen_at=_now()))
    thawed = await running.client.get("/api/v1/me", headers=headers)
    assert (frozen.status_code, frozen.json()["code"]) == (403, "auth.frozen")
    assert thawed.status_code == 200


async def test_created_org_is_known_without_asking_org(running, keys, tree, world) -> None:
    org_id = uuid.uuid4()
    created = OrgCreated(
        org_id=org_id,
        parent_id=tree.city.id,
        path=[*tree.city.path, org_id],
        name="new branch",
        org_type="branch",
        status="active",
        revision=1,
        founded_on=date(2024, 1, 1),
        approved_on=date(2024, 1, 2),
        created_late=False,
    )
    await _deliver(running, created)
    response = await running.client.get(f"/api/v1/orgs/{org_id}", headers=keys.admin_of(tree.city))
    assert response.status_code == 200
    assert world.org_lookups == []


async def test_older_org_revision_does_not_undo_a_newer_one(running, tree) -> None:
    def updated(revision: int, name: str) -> OrgUpdated:
        return OrgUpdated(
            org_id=tree.branch_a.id,
            parent_id=tree.city.id,
            path=list(tree.branch_a.path),
            name=name,
            org_type="branch",
            status="active",
            revision=revision,
            changed_fields=["name"],
        )

    await _deliver(running, updated(3, "newer"))
    await _deliver(running, updated(2, "older"))
    node = running.gateway.scope.tree.get(tree.branch_a.id)
    assert node is not None and node.name == "newer"


async def test_frozen_snapshot_is_loaded_at_start(running, keys, world) -> None:
    account = uuid.uuid4()
    world.frozen.append(account)
    await running.gateway.feed.load_frozen()
    response = await running.client.get("/api/v1/me", headers=keys.auth(sub=str(account)))
    assert response.status_code == 403
    assert response.json()["code"] == "auth.frozen"


def test_subscription_is_per_instance_and_bound_to_the_state_events() -> None:
    subscription = state_subscription("7", OrgTree(), FrozenAccounts(), MaintenanceWindows())
    assert subscription.queue == "gateway.7.state"
    assert subscription.event_types == [
        "account.frozen",
        "account.unfrozen",
        "announcement.published",
        "announcement.withdrawn",
        "org.created",
        "org.dissolved",
        "org.updated",
    ]


def test_snapshot_replaces_state_from_events_older_than_it() -> None:
    frozen = FrozenAccounts()
    before_a, before_b, in_snapshot = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    frozen.freeze(before_a)  # since unfrozen: the snapshot no longer lists it
    frozen.freeze(before_b)
    frozen.begin_snapshot()
    frozen.finish_snapshot([before_b, in_snapshot])
    assert before_a not in frozen
    assert before_b in frozen and in_snapshot in frozen


def test_events_during_the_snapshot_win_over_it() -> None:
    frozen = FrozenAccounts()
    thawed, newly = uuid.uuid4(), uuid.uuid4()
    frozen.begin_snapshot()
    frozen.unfreeze(thawed)  # the snapshot may still list it
    frozen.freeze(newly)  # the snapshot may not list it yet
    frozen.finish_snapshot([thawed])
    assert thawed not in frozen
    assert newly in frozen


async def test_a_freeze_or_unfreeze_arriving_after_a_newer_one_changes_nothing() -> None:
    """identity's relay publishes in two lanes, and a redelivery comes back from its retry
    queue: the newest of an account's freezes and unfreezes decides, whatever the arrival."""
    frozen = FrozenAccounts()
    handlers = state_handlers(OrgTree(), frozen, MaintenanceWindows())
    locked_out, let_through = uuid.uuid4(), uuid.uuid4()
    t = datetime.now(UTC)
    late = timedelta(seconds=5)

    async def tell(event: AccountFrozen | AccountUnfrozen) -> None:
        await handlers[event.type](event, event.envelope("identity"))

    # Frozen at t and unfrozen 5 s later: the unfreeze arrives first.
    await tell(AccountUnfrozen(account_id=locked_out, unfrozen_at=t + late))
    await tell(AccountFrozen(account_id=locked_out, frozen_at=t))
    assert locked_out not in frozen  # not locked out by an old freeze
    # Unfrozen at t and frozen again 5 s later: the freeze arrives first.
    await tell(AccountFrozen(account_id=let_through, frozen_at=t + late))
    await tell(AccountUnfrozen(account_id=let_through, unfrozen_at=t))
    assert let_through in frozen  # its tokens stay stopped
    # A snapshot keeps what was told for the late events still to come.
    frozen.begin_snapshot()
    frozen.finish_snapshot([let_through])
    await tell(AccountUnfrozen(account_id=let_through, unfrozen_at=t))
    assert let_through in frozen
    # An account the gateway knows frozen from a snapshot alone (started after the freeze):
    # an unfreeze from before that snapshot, arriving late, is in it already.
    fresh = FrozenAccounts()
    handlers = state_handlers(OrgTree(), fresh, MaintenanceWindows())
    fresh.begin_snapshot()
    fresh.finish_snapshot([let_through])
    await tell(AccountUnfrozen(account_id=let_through, unfrozen_at=t))
    assert let_through in fresh
    # One newer than the snapshot is news.
    await tell(AccountUnfrozen(account_id=let_through, unfrozen_at=datetime.now(UTC)))
    assert let_through not in fresh


class FlakyBus(Bus):
    """Refuses the first connection; records whether snapshots were fetched before consuming."""

    attempts = 0

    def __init__(self, internal_calls: list[object], consumed: list[tuple[str, int]]) -> None:
        super().__init__(PlatformSettings(), "test")
        self.internal_calls = internal_calls
        self.consumed = consumed

    async def connect(self) -> None:
        FlakyBus.attempts += 1
        if FlakyBus.attempts == 1:
            raise ConnectionRefusedError("broker down")

    async def consume(self, subscription: Subscription) -> None:
        self.consumed.append((subscription.queue, len(self.internal_calls)))

    async def close(self) -> None:
        return None


async def test_unreachable_broker_is_retried_and_snapshots_reloaded_after(
    services, world, tree
) -> None:
    consumed: list[tuple[str, int]] = []
    FlakyBus.attempts = 0
    async with httpx.AsyncClient(transport=services) as client:
        upstreams = Upstreams(client, GatewaySettings().services, "secret")
        frozen = FrozenAccounts()
        feed = StateFeed(
            upstreams,
            OrgTree(),
            frozen,
            "1",
            lambda: FlakyBus(world.internal, consumed),
            retry_delay=0.01,
        )
        await asyncio.wait_for(feed.run(), timeout=5)
    assert feed.consuming and feed.orgs_loaded and feed.frozen_loaded
    assert len(feed.tree) == len(world.orgs)
    # The first snapshot came while the broker was down; once consuming, they were read again.
    loads_before_consuming = consumed[0][1]
    assert consumed[0][0] == "gateway.1.state"
    assert loads_before_consuming == 1
    assert len(world.internal) == 2
