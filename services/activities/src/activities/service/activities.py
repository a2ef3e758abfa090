"""Use cases of activities: publishing one to an audience, signing up and taking it back, the
lists, and the summary after it.

Publishing answers at once: the audience is counted by branch from the service's event-fed
copies of members and organisations, cut into chunks (shared.chunks), and one `FanOutNotices`
command a chunk goes on the work queue; each chunk's notifications are one INSERT … SELECT
(`fan_out`). A member's sign-up and the activity's count of them change in one transaction
under the activity's row lock, so capacity holds whatever races (and a CHECK backs it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from activities.commands import FanOutNotices
from activities.domain import activity as rules
from activities.domain.activity import ActivityRefused
from activities.domain.notices import activity_published
from shared.audit import audit
from shared.caller import Caller
from shared.chunks import chunks_of
from shared.orgtree import is_admin_over, replica_node_in_scope, require_admin_over
from shared.outbox import record_events
from shared.problems import Problem

PRODUCER = "activities"
ACTIVITY_KIND = "activity.published"


def refused(refusal: ActivityRefused) -> Problem:
    return Problem(refusal.status, refusal.code, str(refusal))


def activity_not_found() -> Problem:
    return Problem(404, "activity.not_found", "No such activity, or not one you may see.")


@dataclass(frozen=True)
class NewActivity:
    title: str
    theme: str
    description: str
    place: str
    starts_at: datetime
    ends_at: datetime
    audience_org_ids: Sequence[uuid.UUID] | None
    capacity: int | None
    signup_deadline: datetime | None


async def publish(
    session: AsyncSession, caller: Caller, org_id: uuid.UUID, new: NewActivity, now: datetime
) -> uuid.UUID:
    """An admin over `org_id` publishes an activity to the org's subtree, or to chosen
    organisations inside it; its notifications are written by the fan-out commands."""
    node = await replica_node_in_scope(session, caller, org_id)
    try:
        rules.check_new(
            starts_at=new.starts_at,
            ends_at=new.ends_at,
            signup_deadline=new.signup_deadline,
            now=now,
        )
    except ActivityRefused as refusal:
        raise refused(refusal) from None
    audience = list(dict.fromkeys(new.audience_org_ids or [org_id]))
    inside = await session.scalar(
        text("SELECT count(*) FROM org_replica WHERE id = ANY(:ids) AND :org = ANY(path)"),
        {"ids": audience, "org": org_id},
    )
    if inside != len(audience):
        raise Problem(
            422,
            "activity.audience_outside",
            "Every organisation of the audience must be this one or one under it.",
        )
    # The audience's branches with their active members, as the copies have them now.
    branches = [
        (row.branch_id, row.members)
        for row in await session.execute(
            text(
                "SELECT m.branch_id, count(*) AS members FROM activity_members m "
                "JOIN org_replica o ON o.id = m.branch_id "
                "WHERE m.status = 'active' AND o.path && CAST(:audience AS uuid[]) "
                "GROUP BY m.branch_id ORDER BY m.branch_id"
            ),
            {"audience": audience},
        )
    ]
    chunks = chunks_of(branches, rules.FANOUT_CHUNK_MEMBERS)
    activity_id = uuid.uuid4()
    await session.execute(
        text(
            "INSERT INTO activities (id, org_id, org_path, title, theme, description, place, "
            "starts_at, ends_at, audience_org_ids, capacity, signup_deadline, created_by, "
            "chunks_total, fanout_finished_at) VALUES (:id, :org, :path, :title, :theme, "
            ":description, :place, :starts, :ends, :audience, :capacity, :deadline, :by, "
            ":chunks, CASE WHEN :chunks = 0 THEN now() END)"
        ),
        {
            "id": activity_id,
            "org": org_id,
            "path": list(node.path),
            "title": new.title,
            "theme": new.theme,
            "description": new.description,
            "place": new.place,
            "starts": new.starts_at,
            "ends": new.ends_at,
            "audience": audience,
            "capacity": new.capacity,
            "deadline": new.signup_deadline,
            "by": caller.account_id,
            "chunks": len(chunks),
        },
    )
    if chunks:
        await session.execute(
            text(
                "INSERT INTO activity_fanout_chunks (activity_id, chunk_no, branch_ids) "
                "VALUES (:a, :n, :branches)"
            ),
            [
                {"a": activity_id, "n": n, "branches": chunk}
                for n, chunk in enumerate(chunks, start=1)
            ],
        )
        await record_events(
            session,
            [FanOutNotices(activity_id=activity_id, chunk_no=n) for n in range(1, len(chunks) + 1)],
            PRODUCER,
        )
    await audit(session, caller, "activity.published", "activity", activity_id)
    return activity_id


@dataclass(frozen=True)
class ChunkDone:
    notified: int
    chunks_done: int
    chunks_total: int


async def fan_out(session: AsyncSession, activity_id: uuid.UUID, chunk_no: int) -> ChunkDone | None:
    """The notifications of one chunk of an activity's audience, once: every active member of
    its branches, in one statement. None for a chunk done already (a redelivery)."""
    found = (
        await session.execute(
            text(
                "SELECT c.branch_ids, a.title, a.place, a.starts_at FROM activity_fanout_chunks c "
                "JOIN activities a ON a.id = c.activity_id "
                "WHERE c.activity_id = :a AND c.chunk_no = :n AND c.done_at IS NULL "
                "FOR UPDATE OF c"
            ),
            {"a": activity_id, "n": chunk_no},
        )
    ).first()
    if found is None:
        return None
    title, body, link = activity_published(
        activity_id, found.title, found.place, found.starts_at.date()
    )
    notified = await session.scalar(
        text(
            "WITH written AS (INSERT INTO notifications (recipient_id, recipient_kind, kind, title, "
            "body, link) SELECT member_id, 'member', :kind, :title, :body, CAST(:link AS jsonb) FROM activity_members "
            "WHERE branch_id = ANY(:branches) AND status = 'active' RETURNING 1) "
            "SELECT count(*) FROM written"
        ),
        {
            "kind": ACTIVITY_KIND,
            "title": title,
            "body": body,
            "link": json.dumps(link),
            "branches": list(found.branch_ids),
        },
    )
    await session.execute(
        text(
            "UPDATE activity_fanout_chunks SET done_at = now(), notified = :n "
            "WHERE activity_id = :a AND chunk_no = :c"
        ),
        {"a": activity_id, "c": chunk_no, "n": notified},
    )
    progress = (
        await session.execute(
            text(
                "UPDATE activities SET chunks_done = chunks_done + 1, notified = notified + :n, "
                "fanout_finished_at = CASE WHEN chunks_done + 1 = chunks_total THEN now() END "
                "WHERE id = :a RETURNING chunks_done, chunks_total"
            ),
            {"a": activity_id, "n": notified},
        )
    ).one()
    return ChunkDone(int(notified or 0), progress.chunks_done, progress.chunks_total)


async def _member_branch_path(session: AsyncSession, member_id: uuid.UUID) -> Any:
    """The member's branch and its path, from the copies (None if not (yet) known, or left)."""
    return (
        await session.execute(
            text(
                "SELECT m.branch_id, o.path FROM activity_members m "
                "JOIN org_replica o ON o.id = m.branch_id "
                "WHERE m.member_id = :m AND m.status = 'active'"
            ),
            {"m": member_id},
        )
    ).first()


async def visible(session: AsyncSession, caller: Caller, activity_id: uuid.UUID) -> Any:
    """The activity, for an admin over its organisation or a member of its audience."""
    found = (
        await session.execute(text("SELECT * FROM activities WHERE id = :id"), {"id": activity_id})
    ).first()
    if found is None:
        raise activity_not_found()
    if is_admin_over(caller, found.org_path):
        return found
    if caller.member_id is not None:
        mine = await _member_branch_path(session, caller.member_id)
        if mine is not None and set(mine.path) & set(found.audience_org_ids):
            return found
    raise activity_not_found()


async def of_org(
    session: AsyncSession,
    caller: Caller,
    org_id: uuid.UUID,
    *,
    starts_from: datetime | None,
    starts_before: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    """An organisation's activities, latest start first: for admins over it and members inside
    it."""
    path = await session.scalar(text("SELECT path FROM org_replica WHERE id = :id"), {"id": org_id})
    if path is None:
        raise Problem(404, "org.not_found", "No such organisation (or not yet known here).")
    if not is_admin_over(caller, path):
        mine = (
            await _member_branch_path(session, caller.member_id)
            if caller.member_id is not None
            else None
        )
        if mine is None or org_id not in mine.path:
            require_admin_over(caller, path)
    rows = await session.execute(
        text(
            "SELECT * FROM activities WHERE org_id = :org "
            "AND (CAST(:from AS timestamptz) IS NULL OR starts_at >= :from) "
            "AND (CAST(:to AS timestamptz) IS NULL OR starts_at < :to) "
            "AND (CAST(:at AS timestamptz) IS NULL OR (starts_at, id) < (:at, :id)) "
            "ORDER BY starts_at DESC, id DESC LIMIT :limit"
        ),
        {
            "org": org_id,
            "from": starts_from,
            "to": starts_before,
            "at": after[0] if after else None,
            "id": after[1] if after else None,
            "limit": limit,
        },
    )
    return list(rows)


async def sign_up(
    session: AsyncSession, caller: Caller, activity_id: uuid.UUID, now: datetime
) -> datetime:
    """The member signs up: once, before sign-up closes, while places are left."""
    if caller.member_id is None:
        raise Problem(403, "auth.member_only", "Members sign up for activities themselves.")
    found = await visible(session, caller, activity_id)
    # Sign-ups of one activity take turns: the count and the capacity are checked under it.
    await session.execute(
        text("SELECT 1 FROM activities WHERE id = :id FOR UPDATE"), {"id": activity_id}
    )
    try:
        rules.check_signup_open(now, found.starts_at, found.signup_deadline)
    except ActivityRefused as refusal:
        raise refused(refusal) from None
    signed = await session.scalar(
        text(
            "INSERT INTO activity_signups (activity_id, member_id) VALUES (:a, :m) "
            "ON CONFLICT DO NOTHING RETURNING signed_up_at"
        ),
        {"a": activity_id, "m": caller.member_id},
    )
    if signed is None:
        raise Problem(409, "activity.already_signed_up", "You have signed up already.")
    counted = await session.scalar(
        text(
            "UPDATE activities SET signups = signups + 1 "
            "WHERE id = :id AND (capacity IS NULL OR signups < capacity) RETURNING signups"
        ),
        {"id": activity_id},
    )
    if counted is None:
        raise Problem(409, "activity.full", "Every place of this activity is taken.")
    return signed  # type: ignore[no-any-return]


async def cancel_signup(
    session: AsyncSession, caller: Caller, activity_id: uuid.UUID, now: datetime
) -> None:
    """The member takes back a sign-up before the activity starts; the place is free again."""
    if caller.member_id is None:
        raise Problem(403, "auth.member_only", "Members cancel their own sign-ups.")
    found = await visible(session, caller, activity_id)
    try:
        rules.check_cancel_allowed(now, found.starts_at)
    except ActivityRefused as refusal:
        raise refused(refusal) from None
    removed = await session.scalar(
        text(
            "WITH removed AS (DELETE FROM activity_signups WHERE activity_id = :a "
            "AND member_id = :m RETURNING 1) "
            "UPDATE activities SET signups = signups - (SELECT count(*) FROM removed) "
            "WHERE id = :a RETURNING (SELECT count(*) FROM removed)"
        ),
        {"a": activity_id, "m": caller.member_id},
    )
    if not removed:
        raise Problem(404, "activity.not_signed_up", "You have not signed up for this activity.")


async def signups(
    session: AsyncSession,
    caller: Caller,
    activity_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    """Who signed up, first come first: for admins over the activity's organisation."""
    found = await visible(session, caller, activity_id)
    require_admin_over(caller, found.org_path)
    rows = await session.execute(
        text(
            "SELECT s.member_id, m.name AS member_name, m.branch_id, s.signed_up_at "
            "FROM activity_signups s LEFT JOIN activity_members m USING (member_id) "
            "WHERE s.activity_id = :a "
            "AND (CAST(:at AS timestamptz) IS NULL OR (s.signed_up_at, s.member_id) > (:at, :m)) "
            "ORDER BY s.signed_up_at, s.member_id LIMIT :limit"
        ),
        {
            "a": activity_id,
            "at": after[0] if after else None,
            "m": after[1] if after else None,
            "limit": limit,
        },
    )
    return list(rows)


async def write_summary(
    session: AsyncSession,
    caller: Caller,
    activity_id: uuid.UUID,
    summary: str,
    photo_ids: Sequence[uuid.UUID],
    now: datetime,
    check_photos: Callable[[Sequence[uuid.UUID]], Awaitable[None]],
) -> Any:
    """The admin writes what happened, with photos (`check_photos` refuses any that is not an
    uploaded image), once the activity is over; writing again replaces it."""
    found = await visible(session, caller, activity_id)
    require_admin_over(caller, found.org_path)
    try:
        rules.check_summary_allowed(now, found.ends_at)
    except ActivityRefused as refusal:
        raise refused(refusal) from None
    await check_photos(photo_ids)
    written = (
        await session.execute(
            text(
                "UPDATE activities SET summary = :s, summary_photo_ids = :photos, "
                "summarised_at = now() WHERE id = :id RETURNING *"
            ),
            {"id": activity_id, "s": summary, "photos": list(photo_ids)},
        )
    ).one()
    await audit(session, caller, "activity.summarised", "activity", activity_id)
    return written
