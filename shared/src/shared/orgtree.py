"""Hierarchical permission on materialized paths, and copies of the organisation tree fed by org.* events.

"Admin over X" means the admin's organisation lies on X's path (root .. X). Any service that decides
by organisation keeps a copy: in memory (the gateway) or in its own `org_replica` table. The gateway
has no database: SQLAlchemy and the inbox are loaded by the table copy's functions, not here
(about 20 MiB the gateway process does not carry).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.caller import Caller
from shared.events import ORG_EVENTS, Envelope, Event, OrgSnapshot

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.bus import EventHandler


def is_admin_over(caller: Caller, path: Sequence[uuid.UUID]) -> bool:
    return caller.is_system or (
        caller.is_admin and caller.org_id is not None and caller.org_id in path
    )


def admin_over_sql(path: str) -> str:
    """`is_admin_over` in SQL, on the uuid[] path expression `path`, with the parameters
    `admin_over_values` gives: for a statement that decides and writes at once (a cash payment),
    so that the check costs no round trip of its own. The shared integration tests hold the two
    forms to the same answers."""
    return (
        "(CAST(:scope_system AS boolean) "
        f"OR coalesce(CAST(:scope_admin_org AS uuid) = ANY({path}), false))"
    )


def admin_over_values(caller: Caller) -> dict[str, object]:
    return {
        "scope_system": caller.is_system,
        "scope_admin_org": caller.org_id if caller.is_admin else None,
    }


def is_member_inside(
    caller: Caller, org_id: uuid.UUID, caller_branch_path: Sequence[uuid.UUID]
) -> bool:
    """A member sees an organisation when it lies on the path of the member's own branch."""
    return caller.role == "member" and org_id in caller_branch_path


@dataclass(frozen=True)
class OrgNode:
    id: uuid.UUID
    parent_id: uuid.UUID | None
    path: tuple[uuid.UUID, ...]
    name: str
    org_type: str
    status: str
    revision: int

    @classmethod
    def from_event(cls, e: OrgSnapshot) -> OrgNode:
        return cls(e.org_id, e.parent_id, tuple(e.path), e.name, e.org_type, e.status, e.revision)


class OrgTree:
    """In-memory copy of the tree: applying an older revision after a newer one changes nothing,
    so events may arrive twice or out of order."""

    def __init__(self) -> None:
        self._nodes: dict[uuid.UUID, OrgNode] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def apply(self, node: OrgNode) -> bool:
        current = self._nodes.get(node.id)
        if current is not None and current.revision >= node.revision:
            return False
        self._nodes[node.id] = node
        return True

    def apply_all(self, nodes: Iterable[OrgNode]) -> None:
        for node in nodes:
            self.apply(node)

    def get(self, org_id: uuid.UUID) -> OrgNode | None:
        return self._nodes.get(org_id)


# --- the table copy -----------------------------------------------------------------------------


async def upsert_replica(session: AsyncSession, e: OrgSnapshot) -> None:
    await upsert_replica_node(session, OrgNode.from_event(e))


async def replica_node(session: AsyncSession, org_id: uuid.UUID) -> OrgNode | None:
    from sqlalchemy import text

    row = (
        await session.execute(
            text(
                "SELECT id, parent_id, path, name, org_type, status, revision "
                "FROM org_replica WHERE id = :id"
            ),
            {"id": org_id},
        )
    ).first()
    if row is None:
        return None
    return OrgNode(
        row.id, row.parent_id, tuple(row.path), row.name, row.org_type, row.status, row.revision
    )


def replica_handlers(
    sessions: async_sessionmaker[AsyncSession], consumer: str
) -> dict[str, EventHandler]:
    """Handlers that keep a service's `org_replica` table current; subscribe them to org.*."""
    from shared.inbox import with_inbox

    async def apply(session: AsyncSession, event: Event, _: Envelope) -> None:
        assert isinstance(event, OrgSnapshot)
        await upsert_replica(session, event)

    handler = with_inbox(sessions, consumer, apply)
    return dict.fromkeys(ORG_EVENTS, handler)


def node_from_internal_json(body: Mapping[str, object]) -> OrgNode:
    """An organisation as the org service's internal routes give it."""
    parent = body.get("parent_id")
    path = body["path"]
    assert isinstance(path, list)
    return OrgNode(
        id=uuid.UUID(str(body["id"])),
        parent_id=uuid.UUID(str(parent)) if parent else None,
        path=tuple(uuid.UUID(str(p)) for p in path),
        name=str(body["name"]),
        org_type=str(body["org_type"]),
        status=str(body["status"]),
        revision=int(str(body["revision"])),
    )


class OrgDirectory:
    """The table copy, read through to the org service for an organisation not seen yet (created a
    moment ago, its event still on the way): a secretary may import members into a branch right
    after creating it."""

    def __init__(self, org_url: str, internal_secret: str) -> None:
        self.org_url = org_url.rstrip("/")
        self.internal_secret = internal_secret

    async def node(self, session: AsyncSession, org_id: uuid.UUID) -> OrgNode | None:
        node = await replica_node(session, org_id)
        if node is not None:
            return node
        import httpx

        from shared.caller import SYSTEM_CALLER, sign_caller
        from shared.problems import Problem

        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(
                    f"{self.org_url}/internal/orgs/{org_id}",
                    headers=sign_caller(SYSTEM_CALLER, self.internal_secret),
                )
        except httpx.HTTPError as exc:
            raise Problem(
                503, "ops.org_unreachable", "The organisation directory does not answer; try again."
            ) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Problem(
                503, "ops.org_unreachable", "The organisation directory does not answer; try again."
            )
        fetched = node_from_internal_json(response.json())
        await upsert_replica_node(session, fetched)
        return fetched


async def upsert_replica_node(session: AsyncSession, node: OrgNode) -> None:
    from sqlalchemy import text

    await session.execute(
        text(
            "INSERT INTO org_replica (id, parent_id, path, name, org_type, status, revision) "
            "VALUES (:id, :parent_id, :path, :name, :org_type, :status, :revision) "
            "ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, path = excluded.path, "
            "name = excluded.name, org_type = excluded.org_type, status = excluded.status, "
            "revision = excluded.revision WHERE org_replica.revision < excluded.revision"
        ),
        {
            "id": node.id,
            "parent_id": node.parent_id,
            "path": list(node.path),
            "name": node.name,
            "org_type": node.org_type,
            "status": node.status,
            "revision": node.revision,
        },
    )


async def known_replica_node(session: AsyncSession, org_id: uuid.UUID) -> OrgNode:
    """An organisation of the service's copy of the tree, or 404 `org.not_found`."""
    from shared.problems import Problem

    node = await replica_node(session, org_id)
    if node is None:
        raise Problem(
            404, "org.not_found", "No such organisation (or not yet known to this service)."
        )
    return node


async def replica_node_in_scope(
    session: AsyncSession, caller: Caller, org_id: uuid.UUID
) -> OrgNode:
    """The organisation, for an admin over it: 404 unknown, 403 `auth.out_of_scope` otherwise."""
    node = await known_replica_node(session, org_id)
    require_admin_over(caller, node.path)
    return node


def require_admin_over(caller: Caller, path: Sequence[uuid.UUID]) -> None:
    """403 `auth.out_of_scope` unless the caller is admin over the organisation at `path`."""
    from shared.problems import Problem

    if not is_admin_over(caller, path):
        raise Problem(403, "auth.out_of_scope", "This organisation is outside your responsibility.")
