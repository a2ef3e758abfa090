"""Use cases of activities: publishing one to an audience, signing up and taking it back, the
lists, and the summary after it.

Publishing answers at once: the invitations are a mailing (activities.service.mailings),
written after the answer in chunks by the fan-out work queue. A member's sign-up and the activity's count of them change in one transaction
under the activity's row lock, so capacity holds whatever races (and a CHECK backs it).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from activities.domain import activity as rules
from activities.domain.activity import Refused
from activities.domain.notices import activity_published
from activities.service import mailings
from activities.service.mailings import Mailing
from shared.audit import audit
from shared.calendar import BEIJING
from shared.caller import Caller
from shared.orgtree import is_admin_over, replica_node_in_scope, require_admin_over
from shared.problems import Problem

ACTIVITY_KIND = "activity.published"
# An activity with how far its invitations are written.
WITH_PROGRESS = (
    "SELECT a.*, m.chunks_total, m.chunks_done, m.notified, m.finished_at AS fanout_finished_at "
    "FROM activities a JOIN mailings m ON m.id = a.mailing_id"
)


def refused(refusal: Refused) -> Problem:
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
    except Refused as refusal:
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
    activity_id = uuid.uuid4()
    title, body, link = activity_published(
        activity_id, new.title, new.place, new.starts_at.astimezone(BEIJING).date()
    )
    mailing_id = await mailings.start(
        session, Mailing(ACTIVITY_KIND, title, body, link, audience=audience)
    )
    await session.execute(
        text(
            "INSERT INTO activities (id, org_id, org_path, title, theme, description, place, "
            "starts_at, ends_at, audience_org_ids, capacity, signup_deadline, created_by, "
            "mailing_id) VALUES (:id, :org, :path, :title, :theme, :description, :place, "
            ":starts, :ends, :audience, :capacity, :deadline, :by, :mailing)"
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
            "mailing": mailing_id,
        },
    )
    await audit(session, caller, "activity.published", "activity", activity_id)
    return activity_id


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
        await session.execute(text(WITH_PROGRESS + " WHERE a.id = :id"), {"id": activity_id})
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
    # Whether the calling member signed up, from the sign-ups' key (no member: nobody).
    signed_up = (
        ", EXISTS (SELECT 1 FROM activity_signups s WHERE s.activity_id = a.id "
        "AND s.member_id = CAST(:me AS uuid)) AS signed_up"
    )
    rows = await session.execute(
        text(
            WITH_PROGRESS.replace(" FROM activities a", signed_up + " FROM activities a", 1)
            + " WHERE a.org_id = :org "
            "AND (CAST(:from AS timestamptz) IS NULL OR a.starts_at >= :from) "
            "AND (CAST(:to AS timestamptz) IS NULL OR a.starts_at < :to) "
            "AND (CAST(:at AS timestamptz) IS NULL OR (a.starts_at, a.id) < (:at, :id)) "
            "ORDER BY a.starts_at DESC, a.id DESC LIMIT :limit"
        ),
        {
            "org": org_id,
            "me": caller.member_id,
            "from": starts_from,
            "to": starts_before,
            "at": after[0] if after else None,
            "id": after[1] if after else None,
            "limit": limit,
        },
    )
    return list(rows)


async def _take_turn(session: AsyncSession, activity_id: uuid.UUID) -> None:
    """Sign-ups and take-backs of one activity take turns on its row: the count and the
    capacity are checked under it. Both take it before touching a sign-up: the other order
    (the sign-up's row, then the activity's) deadlocks against a sign-up of the same member."""
    await session.execute(
        text("SELECT 1 FROM activities WHERE id = :id FOR UPDATE"), {"id": activity_id}
    )


async def sign_up(
    session: AsyncSession, caller: Caller, activity_id: uuid.UUID, now: datetime
) -> datetime:
    """The member signs up: once, before sign-up closes, while places are left."""
    if caller.member_id is None:
        raise Problem(403, "auth.member_only", "Members sign up for activities themselves.")
    found = await visible(session, caller, activity_id)
    await _take_turn(session, activity_id)
    try:
        rules.check_signup_open(now, found.starts_at, found.signup_deadline)
    except Refused as refusal:
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
    except Refused as refusal:
        raise refused(refusal) from None
    await _take_turn(session, activity_id)
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
    except Refused as refusal:
        raise refused(refusal) from None
    await check_photos(photo_ids)
    await session.execute(
        text(
            "UPDATE activities SET summary = :s, summary_photo_ids = :photos, "
            "summarised_at = now() WHERE id = :id"
        ),
        {"id": activity_id, "s": summary, "photos": list(photo_ids)},
    )
    await audit(session, caller, "activity.summarised", "activity", activity_id)
    return await visible(session, caller, activity_id)
