"""Announcements and maintenance windows: published for an admin's subtree (a mailing to every
member and organisation in it), withdrawn, listed while current; the read-only windows the
gateway applies, learnt from `announcement.*` events and from `windows` when it starts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from activities.domain import announcement as rules
from activities.domain.activity import Refused
from activities.service import PRODUCER, mailings
from activities.service.activities import refused
from activities.service.mailings import Mailing
from shared.audit import audit
from shared.caller import Caller
from shared.events import AnnouncementPublished, AnnouncementWithdrawn
from shared.orgtree import known_replica_node, replica_node, require_admin_over
from shared.outbox import record_event
from shared.problems import Problem

# An announcement with how far its notices are written.
WITH_PROGRESS = (
    "SELECT a.*, m.chunks_total, m.chunks_done, m.notified, m.finished_at AS fanout_finished_at "
    "FROM announcements a JOIN mailings m ON m.id = a.mailing_id"
)


@dataclass(frozen=True)
class NewAnnouncement:
    title: str
    body: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    read_only: bool


async def publish(
    session: AsyncSession, caller: Caller, new: NewAnnouncement, now: datetime
) -> Any:
    """An admin announces to its own organisation's subtree (the root's: everyone)."""
    if not caller.is_admin or caller.org_id is None:
        raise Problem(403, "auth.admin_only", "Only admins publish announcements.")
    node = await known_replica_node(session, caller.org_id)
    try:
        rules.check_new(
            kind=new.kind,
            starts_at=new.starts_at,
            ends_at=new.ends_at,
            read_only=new.read_only,
            now=now,
            by_root=node.parent_id is None,
        )
    except Refused as refusal:
        raise refused(refusal) from None
    announcement_id = uuid.uuid4()
    title, body = rules.notice_text(
        new.kind, new.title, new.body, new.starts_at, new.ends_at, new.read_only
    )
    mailing_id = await mailings.start(
        session,
        Mailing(
            f"announcement.{new.kind}",
            title,
            body,
            {"announcement_id": str(announcement_id)},
            audience=[node.id],
            to_organisations=True,
            # Maintenance is also announced by SMS (DOMAIN.md §8), to each organisation's leader.
            sms_to_organisations=new.kind == "maintenance",
        ),
    )
    await session.execute(
        text(
            "INSERT INTO announcements (id, org_id, org_path, kind, title, body, starts_at, "
            "ends_at, read_only, created_by, mailing_id) VALUES (:id, :org, :path, :kind, "
            ":title, :body, :starts, :ends, :read_only, :by, :mailing)"
        ),
        {
            "id": announcement_id,
            "org": node.id,
            "path": list(node.path),
            "kind": new.kind,
            "title": new.title,
            "body": new.body,
            "starts": new.starts_at,
            "ends": new.ends_at,
            "read_only": new.read_only,
            "by": caller.account_id,
            "mailing": mailing_id,
        },
    )
    await record_event(
        session,
        AnnouncementPublished(
            announcement_id=announcement_id,
            org_id=node.id,
            kind=new.kind,  # type: ignore[arg-type]
            starts_at=new.starts_at,
            ends_at=new.ends_at,
            read_only=new.read_only,
        ),
        PRODUCER,
    )
    await audit(session, caller, f"announcement.{new.kind}", "announcement", announcement_id)
    return await one(session, announcement_id)


async def one(session: AsyncSession, announcement_id: uuid.UUID) -> Any:
    found = (
        await session.execute(text(WITH_PROGRESS + " WHERE a.id = :id"), {"id": announcement_id})
    ).first()
    if found is None:
        raise Problem(404, "announcement.not_found", "No such announcement.")
    return found


async def withdraw(
    session: AsyncSession, caller: Caller, announcement_id: uuid.UUID, now: datetime
) -> Any:
    """An admin over its organisation takes it back before its end: a read-only window stops
    at once."""
    found = await one(session, announcement_id)
    require_admin_over(caller, found.org_path)
    withdrawn = await session.scalar(
        text(
            "UPDATE announcements SET withdrawn_at = now() WHERE id = :id "
            "AND withdrawn_at IS NULL AND ends_at > :now RETURNING id"
        ),
        {"id": announcement_id, "now": now},
    )
    if withdrawn is None:
        raise Problem(
            409, "announcement.not_current", "The announcement is over or withdrawn already."
        )
    await record_event(session, AnnouncementWithdrawn(announcement_id=announcement_id), PRODUCER)
    await audit(session, caller, "announcement.withdrawn", "announcement", announcement_id)
    return await one(session, announcement_id)


async def current(session: AsyncSession, caller: Caller | None, now: datetime) -> list[Any]:
    """Announcements not over and not withdrawn (maintenance ahead included, as it is announced
    in advance), soonest first: those of the organisations above the caller and the caller's own;
    without a caller, the province's."""
    path: list[uuid.UUID] = []
    if caller is not None and caller.org_id is not None:
        node = await replica_node(session, caller.org_id)
        path = list(node.path) if node is not None else []
    rows = await session.execute(
        text(
            WITH_PROGRESS + " WHERE a.withdrawn_at IS NULL AND a.ends_at > :now "
            "AND (a.org_id = ANY(CAST(:path AS uuid[])) OR cardinality(a.org_path) = 1) "
            "ORDER BY a.starts_at, a.id LIMIT 100"
        ),
        {"now": now, "path": path},
    )
    return list(rows)


async def windows(session: AsyncSession, now: datetime) -> list[Any]:
    """Read-only windows not over and not withdrawn: the gateway's snapshot."""
    rows = await session.execute(
        text(
            "SELECT id, starts_at, ends_at FROM announcements WHERE read_only "
            "AND withdrawn_at IS NULL AND ends_at > :now ORDER BY starts_at"
        ),
        {"now": now},
    )
    return list(rows)
