"""A service's copy of the members it needs (id, branch, name, status, joined), fed by
member.* events in batches (creations, public changes, transfers and departures): fees bills
from it, transfers checks who may move from it.

A copy is two tables named by the service: the members (`member_id` primary key; `branch_id`,
`name`, `status`, `joined_on` columns) and the changes that arrived before their member did
(`member_id` primary key; `name`, `status`, `branch_id`), created by `shared.migrations`'s
`create_member_copy_tables`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.batching import BatchHandler, BatchingInbox
from shared.bus import Subscription
from shared.events import (
    MEMBER_CREATION_EVENTS,
    MEMBER_MOVE_EVENTS,
    Envelope,
    Event,
    MemberDeparted,
    MemberTransferred,
    MemberUpdated,
    members_created_in,
    new_members_in,
)


@dataclass(frozen=True)
class MemberCopy:
    members: str  # the table of members
    waiting: str  # the table of changes that came before their member

    def subscription(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queue: str,
        then: BatchHandler | None = None,
    ) -> Subscription:
        """The service's queue of member events, taken in batches (an import's chunks of 500
        weigh as their members), a transaction a batch; `then` does what else the service does
        with a batch, in the same transaction, after the copy is current."""

        async def apply(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
            await self.apply(session, batch)
            if then is not None:
                await then(session, batch)

        batched = BatchingInbox(sessions, queue, apply, max_size=500, weight=new_members_in)
        events = dict.fromkeys(
            (*MEMBER_CREATION_EVENTS, "member.updated", *MEMBER_MOVE_EVENTS), batched
        )
        return Subscription(queue, events, prefetch=1000)

    async def apply(self, session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
        """New members in one set-based insert (an import brings 10,000), then the names and
        statuses that changed, in one set-based update. A change to a member not copied yet
        (its creation failed once and waits for its retry) is kept and applied when the member
        comes: the copy ends as the members service has it, whatever the order of arrival."""
        created = members_created_in(event for event, _ in batch)
        if created:
            await session.execute(
                text(
                    f"INSERT INTO {self.members} (member_id, branch_id, name, joined_on) "  # noqa: S608 (names are constants)
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
            await self._apply_waiting_changes(session, [m.member_id for m in created])
        # Names, statuses and branches changed, the latest of each field per member, in one
        # statement.
        changed: dict[uuid.UUID, dict[str, str]] = {}
        for event, _ in batch:
            for member_id, fields in _changes_told_by(event).items():
                changed.setdefault(member_id, {}).update(fields)
        if changed:
            await self._apply_changes(session, changed)

    async def _apply_changes(
        self, session: AsyncSession, changed: dict[uuid.UUID, dict[str, str]]
    ) -> None:
        values = {
            "ids": list(changed),
            "names": [f.get("name") for f in changed.values()],
            "statuses": [f.get("status") for f in changed.values()],
            "branches": [f.get("branch_id") for f in changed.values()],
        }
        applied = set(
            (
                await session.execute(
                    text(
                        f"UPDATE {self.members} m SET name = coalesce(c.name, m.name), "  # noqa: S608 (names are constants)
                        "status = coalesce(c.status, m.status), "
                        "branch_id = coalesce(c.branch_id, m.branch_id) "
                        "FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[]), "
                        "CAST(:statuses AS text[]), CAST(:branches AS uuid[])) "
                        "AS c(id, name, status, branch_id) "
                        "WHERE m.member_id = c.id RETURNING m.member_id"
                    ),
                    values,
                )
            ).scalars()
        )
        if len(applied) < len(changed):
            await session.execute(
                text(
                    f"INSERT INTO {self.waiting} AS w (member_id, name, status, branch_id) "  # noqa: S608 (names are constants)
                    "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[]), "
                    "CAST(:statuses AS text[]), CAST(:branches AS uuid[])) "
                    "AS c(id, name, status, branch_id) "
                    "WHERE NOT c.id = ANY(CAST(:applied AS uuid[])) "
                    "ON CONFLICT (member_id) DO UPDATE SET "
                    "name = coalesce(EXCLUDED.name, w.name), "
                    "status = coalesce(EXCLUDED.status, w.status), "
                    "branch_id = coalesce(EXCLUDED.branch_id, w.branch_id)"
                ),
                {**values, "applied": list(applied)},
            )

    async def _apply_waiting_changes(
        self, session: AsyncSession, member_ids: list[uuid.UUID]
    ) -> None:
        """The changes that arrived before these members did, applied and forgotten."""
        await session.execute(
            text(
                f"WITH waiting AS (DELETE FROM {self.waiting} WHERE member_id = ANY(:ids) "  # noqa: S608 (names are constants)
                "RETURNING member_id, name, status, branch_id) "
                f"UPDATE {self.members} m SET name = coalesce(w.name, m.name), "
                "status = coalesce(w.status, m.status), branch_id = coalesce(w.branch_id, m.branch_id) "
                "FROM waiting w WHERE m.member_id = w.member_id"
            ),
            {"ids": member_ids},
        )


def _changes_told_by(event: Event) -> dict[uuid.UUID, dict[str, str]]:
    """What an event changes of the copied columns, by member."""
    if isinstance(event, MemberUpdated):
        fields = {k: v for k, v in event.values.items() if k in ("name", "status")}
        return {event.member_id: fields} if fields else {}
    if isinstance(event, MemberTransferred):
        return {event.member_id: {"branch_id": str(event.to_branch_id)}}
    if isinstance(event, MemberDeparted):
        return {event.member_id: {"status": "left"}}
    return {}
