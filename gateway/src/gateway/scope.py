"""The gateway's in-memory state (organisation tree, frozen accounts) and the scope decision."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

import httpx

from gateway.proxy import Upstreams, service_unavailable, upstream_problem
from gateway.routes import Policy
from shared.caller import Caller
from shared.logging import get_logger
from shared.orgtree import (
    OrgNode,
    OrgTree,
    is_admin_over,
    is_member_inside,
    node_from_internal_json,
)
from shared.problems import Problem

log = get_logger(__name__)

OrgLookup = Callable[[uuid.UUID], Awaitable[OrgNode | None]]


def org_lookup(upstreams: Upstreams) -> OrgLookup:
    """Read-through to org for an organisation the copy has not seen (created a moment ago)."""

    async def lookup(org_id: uuid.UUID) -> OrgNode | None:
        try:
            response = await upstreams.system_get("org", f"/internal/orgs/{org_id}")
        except httpx.HTTPError as exc:
            raise upstream_problem("org", exc) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.warning("org_lookup_failed", status=response.status_code)
            raise service_unavailable("org")
        try:
            return node_from_internal_json(response.json())
        except (KeyError, ValueError, TypeError) as exc:
            log.error("org_lookup_malformed", error=type(exc).__name__)
            raise service_unavailable("org") from exc

    return lookup


class FrozenAccounts:
    """Accounts whose tokens stop working, fed by account.frozen / account.unfrozen.

    Events keep flowing while a snapshot is fetched. An event consumed during that window may
    be newer than the snapshot, so for the accounts it touched the event wins; everything else
    takes the snapshot, which is newer than any event consumed before the window.

    Events may arrive in another order than they happened (identity's relay publishes in two
    lanes; a redelivery comes back from its retry queue): an account's freeze or unfreeze older
    than the last one applied to it is ignored, else a late "unfrozen" would let a frozen
    account's tokens through until the next snapshot. When each was applied is kept for
    `TOLD_HORIZON`, longer than any retry holds an event back. An account frozen as the last
    snapshot says was told so when that snapshot began: an unfreeze older than that is in it.
    (The other way round, a freeze older than the snapshot that listed the account unfrozen,
    would stop its tokens until the next snapshot: the safe side, and kept for the memory.)
    """

    TOLD_HORIZON = timedelta(minutes=10)

    def __init__(self) -> None:
        self._ids: set[uuid.UUID] = set()
        self._touched: set[uuid.UUID] | None = None
        self._told_at: dict[uuid.UUID, datetime] = {}  # the latest freeze or unfreeze applied
        self._snapshot_at: datetime | None = None  # when the snapshot in force began
        self._snapshot_begun: datetime | None = None

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def freeze(self, account_id: uuid.UUID, at: datetime | None = None) -> None:
        """Frozen at `at` (the event's time; None: now, whatever was told before)."""
        if self._newest(account_id, at):
            self._ids.add(account_id)
            self._mark(account_id)

    def unfreeze(self, account_id: uuid.UUID, at: datetime | None = None) -> None:
        if self._newest(account_id, at):
            self._ids.discard(account_id)
            self._mark(account_id)

    def _newest(self, account_id: uuid.UUID, at: datetime | None) -> bool:
        """Whether what happened at `at` is the newest told of the account (and remember it)."""
        told = self._told_at.get(account_id)
        if told is None and account_id in self._ids:
            told = self._snapshot_at  # frozen as the snapshot said (None: frozen by an event)
        if at is not None and told is not None and at < told:
            return False
        self._told_at[account_id] = at or datetime.now(UTC)
        return True

    def _mark(self, account_id: uuid.UUID) -> None:
        if self._touched is not None:
            self._touched.add(account_id)

    def begin_snapshot(self) -> None:
        self._touched = set()
        self._snapshot_begun = datetime.now(UTC)

    def finish_snapshot(self, frozen: Iterable[uuid.UUID]) -> None:
        touched = self._touched or set()
        self._touched = None
        self._ids = {a for a in self._ids if a in touched} | {a for a in frozen if a not in touched}
        self._snapshot_at = self._snapshot_begun
        horizon = datetime.now(UTC) - self.TOLD_HORIZON
        self._told_at = {a: at for a, at in self._told_at.items() if at > horizon}


def allowed(caller: Caller, policy: Policy, target: OrgNode, own_branch: OrgNode | None) -> bool:
    """Admin over the target; or, where members may, a member whose branch lies under it."""
    if is_admin_over(caller, target.path):
        return True
    return (
        policy.allow == "admin_or_member"
        and own_branch is not None
        and is_member_inside(caller, target.id, own_branch.path)
    )


class Scope:
    """Decides whether a caller may act on the organisation a route names."""

    def __init__(self, tree: OrgTree, lookup: OrgLookup) -> None:
        self.tree = tree
        self._lookup = lookup

    async def node(self, org_id: uuid.UUID) -> OrgNode | None:
        """From the copy, or read through to org for one not seen yet (and keep it)."""
        node = self.tree.get(org_id)
        if node is None:
            node = await self._lookup(org_id)
            if node is not None:
                self.tree.apply(node)
                # apply() keeps a newer revision an event may have brought meanwhile.
                node = self.tree.get(org_id) or node
        return node

    async def check(self, caller: Caller, policy: Policy, params: Mapping[str, str]) -> None:
        if policy.org_param is None:
            return
        raw = params.get(policy.org_param)
        if raw is None:
            # The service published a policy naming a parameter its path lacks: refuse rather
            # than forward unchecked.
            log.error("route_policy_param_missing", org_param=policy.org_param)
            raise out_of_scope()
        try:
            org_id = uuid.UUID(raw)
        except ValueError as exc:
            raise org_not_found() from exc
        target = await self.node(org_id)
        if target is None:
            raise org_not_found()
        own_branch = None
        if (
            policy.allow == "admin_or_member"
            and caller.role == "member"
            and caller.org_id is not None
        ):
            own_branch = await self.node(caller.org_id)
        if not allowed(caller, policy, target, own_branch):
            raise out_of_scope()


def org_not_found() -> Problem:
    return Problem(404, "org.not_found", "No organisation has this id.")


def out_of_scope() -> Problem:
    return Problem(403, "auth.out_of_scope", "This organisation is outside your scope.")
