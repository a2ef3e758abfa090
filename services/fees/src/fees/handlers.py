"""Event consumers of the fees service: its copies of the organisation tree and of members."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.events import (
    MEMBER_CREATION_EVENTS,
    Envelope,
    Event,
    MemberUpdated,
    members_created_in,
    new_members_in,
)
from shared.orgtree import replica_handlers
from shared.process import Resources

ORG_TREE_QUEUE = "fees.org-tree"
MEMBERS_QUEUE = "fees.members"


async def members_changed(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """New members in one set-based insert (an import brings 10,000), then the names and
    statuses that changed, in one set-based update. A change to a member not copied yet (its
    creation failed once and waits for its retry) is kept and applied when the member comes:
    the copy ends as the members service has it, whatever the order of arrival."""
    created = members_created_in(event for event, _ in batch)
    if created:
        await session.execute(
            text(
                "INSERT INTO fee_members (member_id, branch_id, name, joined_on) "
                "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:branches AS uuid[]), "
                "CAST(:names AS text[]), CAST(:joined AS date[])) "
                "ON CONFLICT (member_id) DO NOTHING"
            ),
            {
                "ids": [m.member_id for m in created],
                "branches": [m.branch_id for m in created],
                "names": [m.name for m in created],
                "joined": [m.joined_on for m in created],
            },
        )
        await _apply_waiting_changes(session, [m.member_id for m in created])
    # Names and statuses changed, the latest of each field per member, in one statement.
    changed: dict[uuid.UUID, dict[str, str]] = {}
    for event, _ in batch:
        if isinstance(event, MemberUpdated):
            fields = {k: v for k, v in event.values.items() if k in ("name", "status")}
            if fields:
                changed.setdefault(event.member_id, {}).update(fields)
    if changed:
        values = {
            "ids": list(changed),
            "names": [f.get("name") for f in changed.values()],
            "statuses": [f.get("status") for f in changed.values()],
        }
        applied = set(
            (
                await session.execute(
                    text(
                        "UPDATE fee_members SET name = coalesce(c.name, fee_members.name), "
                        "status = coalesce(c.status, fee_members.status) "
                        "FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[]), "
                        "CAST(:statuses AS text[])) AS c(id, name, status) "
                        "WHERE fee_members.member_id = c.id RETURNING fee_members.member_id"
                    ),
                    values,
                )
            ).scalars()
        )
        if len(applied) < len(changed):
            await session.execute(
                text(
                    "INSERT INTO fee_member_updates (member_id, name, status) "
                    "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[]), "
                    "CAST(:statuses AS text[])) AS c(id, name, status) "
                    "WHERE NOT c.id = ANY(CAST(:applied AS uuid[])) "
                    "ON CONFLICT (member_id) DO UPDATE SET "
                    "name = coalesce(EXCLUDED.name, fee_member_updates.name), "
                    "status = coalesce(EXCLUDED.status, fee_member_updates.status)"
                ),
                {**values, "applied": list(applied)},
            )


async def _apply_waiting_changes(session: AsyncSession, member_ids: list[uuid.UUID]) -> None:
    """The changes that arrived before these members did, applied and forgotten."""
    await session.execute(
        text(
            "WITH waiting AS (DELETE FROM fee_member_updates WHERE member_id = ANY(:ids) "
            "RETURNING member_id, name, status) "
            "UPDATE fee_members SET name = coalesce(w.name, fee_members.name), "
            "status = coalesce(w.status, fee_members.status) "
            "FROM waiting w WHERE fee_members.member_id = w.member_id"
        ),
        {"ids": member_ids},
    )


def subscriptions(resources: Resources) -> list[Subscription]:
    batched = BatchingInbox(
        resources.sessions, MEMBERS_QUEUE, members_changed, max_size=500, weight=new_members_in
    )
    member_events = dict.fromkeys((*MEMBER_CREATION_EVENTS, "member.updated"), batched)
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        Subscription(MEMBERS_QUEUE, member_events, prefetch=1000),
    ]
