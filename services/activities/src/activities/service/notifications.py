"""The notification inbox (消息通知): writing what the templates say (activities.domain.notices)
for a batch of events, and each account's inbox, unread count and read marks.

A member's inbox holds what was written to the member; an admin's holds what was written to the
admin's organisation (its admins share it: one of them reading a notice reads it for all, as a
shared office tray would).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from activities.domain.notices import Notice
from shared.caller import Caller
from shared.problems import Problem


def _inbox_of(caller: Caller) -> uuid.UUID:
    """The recipient whose notifications a caller reads: the member, or the admin's
    organisation."""
    if caller.member_id is not None:
        return caller.member_id
    if caller.is_admin and caller.org_id is not None:
        return caller.org_id
    raise Problem(403, "auth.no_inbox", "Only members and admins have a notification inbox.")


async def write(session: AsyncSession, notices: Sequence[Notice]) -> int:
    """Every notice of a batch of events: the addressed ones in one statement, and those to a
    branch's members one statement per distinct text (a dues month's chunk is one)."""
    single = [n for n in notices if n.branch_members is None]
    written = 0
    if single:
        await session.execute(
            text(
                "INSERT INTO notifications (recipient_id, recipient_kind, kind, title, body, link) "
                "VALUES (:to, :to_kind, :kind, :title, :body, CAST(:link AS jsonb))"
            ),
            [
                {
                    "to": n.member_id or n.org_id,
                    "to_kind": "member" if n.member_id else "org",
                    "kind": n.kind,
                    "title": n.title,
                    "body": n.body,
                    "link": json.dumps(n.link),
                }
                for n in single
            ],
        )
        written += len(single)
    to_branches: dict[tuple[str, str, str, str], list[uuid.UUID]] = defaultdict(list)
    for n in notices:
        if n.branch_members is not None:
            key = (n.kind, n.title, n.body, json.dumps(n.link, sort_keys=True))
            to_branches[key].append(n.branch_members)
    for (kind, title, body, link), branches in to_branches.items():
        written += int(
            await session.scalar(
                text(
                    "WITH written AS (INSERT INTO notifications (recipient_id, recipient_kind, "
                    "kind, title, body, link) SELECT member_id, 'member', :kind, :title, :body, CAST(:link AS jsonb) "
                    "FROM activity_members WHERE branch_id = ANY(:branches) "
                    "AND status = 'active' RETURNING 1) SELECT count(*) FROM written"
                ),
                {"kind": kind, "title": title, "body": body, "link": link, "branches": branches},
            )
            or 0
        )
    return written


async def inbox(
    session: AsyncSession, caller: Caller, *, unread_only: bool, before: int | None, limit: int
) -> list[Any]:
    """The caller's notifications, newest first, in pages."""
    me = _inbox_of(caller)
    rows = await session.execute(
        text(
            "SELECT id, kind, title, body, link, created_at, read_at FROM notifications "
            "WHERE recipient_id = :me "
            "AND (NOT :unread OR read_at IS NULL) "
            "AND (CAST(:before AS bigint) IS NULL OR id < :before) "
            "ORDER BY id DESC LIMIT :limit"
        ),
        {"me": me, "unread": unread_only, "before": before, "limit": limit},
    )
    return list(rows)


async def unread_count(session: AsyncSession, caller: Caller) -> int:
    me = _inbox_of(caller)
    return int(
        await session.scalar(
            text("SELECT count(*) FROM notifications WHERE recipient_id = :me AND read_at IS NULL"),
            {"me": me},
        )
        or 0
    )


async def mark_read(session: AsyncSession, caller: Caller, notification_id: int) -> None:
    """Read once; reading again changes nothing. Another's notification is 404."""
    me = _inbox_of(caller)
    found = await session.scalar(
        text(
            "WITH marked AS (UPDATE notifications SET read_at = coalesce(read_at, now()) "
            "WHERE id = :id AND recipient_id = :me RETURNING 1) SELECT count(*) FROM marked"
        ),
        {"id": notification_id, "me": me},
    )
    if not found:
        raise Problem(404, "notification.not_found", "No such notification in your inbox.")


async def mark_all_read(session: AsyncSession, caller: Caller) -> int:
    me = _inbox_of(caller)
    result = await session.execute(
        text(
            "UPDATE notifications SET read_at = now() WHERE recipient_id = :me AND read_at IS NULL"
        ),
        {"me": me},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
