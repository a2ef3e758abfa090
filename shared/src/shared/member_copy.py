"""A service's copy of the members it needs (id, branch, name, status, joined), fed by
member.* events in batches (creations, public changes, transfers and departures): fees bills
from it, transfers checks who may move from it.

A copy is two tables named by the service: the members (`member_id` primary key; `branch_id`,
`name`, `status`, `joined_on` columns) and the changes that arrived before their member did
(`member_id` primary key; `name`, `status`, `branch_id`), created by `shared.migrations`'s
`create_member_copy_tables`; both with when each field's last change occurred (`name_at`,
`status_at`, `branch_at`: `add_member_copy_stamps`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.batching import BatchHandler, BatchingInbox
from shared.bus import Subscription
from shared.db import in_lock_order, lock_in_id_order
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
        comes. Each field takes a change only over an older one (by its event's occurred_at): the
        copy ends as the members service has it, whatever the order of arrival."""
        created = sorted(members_created_in(event for event, _ in batch), key=_member_id)
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
        # Names, statuses and branches changed, the latest of each field per member, in one
        # statement.
        changed: dict[uuid.UUID, dict[str, Change]] = {}
        for event, envelope in batch:
            for member_id, fields in _changes_told_by(event).items():
                mine = changed.setdefault(member_id, {})
                for field, value in fields.items():
                    if field not in mine or mine[field].at < envelope.occurred_at:
                        mine[field] = Change(value, envelope.occurred_at)
        if changed:
            await self._apply_changes(session, in_lock_order(changed))
        await self._apply_waiting_changes(session)

    async def hold(self, session: AsyncSession, member_ids: Sequence[uuid.UUID]) -> None:
        """The members' rows of the copy locked, in id order, for a transaction that is to
        change their row after it has locked others: it takes the copy's rows first, as a batch
        of member events does (`apply`, then the service's own `then`), not last."""
        await lock_in_id_order(
            session, self.members, "member_id", member_ids, strength="NO KEY UPDATE"
        )

    async def move(
        self, session: AsyncSession, member_id: uuid.UUID, branch_id: uuid.UUID, at: datetime
    ) -> None:
        """The member in `branch_id` from `at`, told by the service itself ahead of the event
        (a transfer it completed): the event, when it comes, changes nothing more."""
        await self._apply_changes(session, {member_id: {"branch_id": Change(str(branch_id), at)}})

    async def _apply_changes(
        self, session: AsyncSession, changed: dict[uuid.UUID, dict[str, Change]]
    ) -> None:
        values: dict[str, list[object]] = {"ids": list(changed)}
        for field, stamp in STAMPED_FIELDS:
            values[field] = [f[field].value if field in f else None for f in changed.values()]
            values[stamp] = [f[field].at if field in f else None for f in changed.values()]
        applied = set(
            (
                await session.execute(
                    text(
                        f"UPDATE {self.members} m SET {_newer('c', 'm')} "  # noqa: S608 (names are constants)
                        f"FROM {_CHANGES} WHERE m.member_id = c.id RETURNING m.member_id"
                    ),
                    values,
                )
            ).scalars()
        )
        if len(applied) < len(changed):
            await session.execute(
                text(
                    f"INSERT INTO {self.waiting} AS w (member_id, {_COLUMNS}) "  # noqa: S608 (names are constants)
                    f"SELECT * FROM {_CHANGES} WHERE NOT c.id = ANY(CAST(:applied AS uuid[])) "
                    f"ON CONFLICT (member_id) DO UPDATE SET {_newer('EXCLUDED', 'w')}"
                ),
                {**values, "applied": list(applied)},
            )

    async def _apply_waiting_changes(self, session: AsyncSession) -> None:
        """The changes that arrived before their members did, applied and forgotten once the
        members are here: those this batch created, and any another consumer process created
        while this one put their change in waiting (neither transaction saw the other's row; the
        next batch of either finds both). Cheap while nothing waits, as nearly always."""
        await session.execute(
            text(
                f"WITH w AS (DELETE FROM {self.waiting} w USING {self.members} here "  # noqa: S608 (names are constants)
                f"WHERE here.member_id = w.member_id RETURNING w.member_id, {_WAITING_COLUMNS}) "
                f"UPDATE {self.members} m SET {_newer('w', 'm')} "
                "FROM w WHERE m.member_id = w.member_id"
            )
        )


def _member_id(event: Any) -> uuid.UUID:
    member_id: uuid.UUID = event.member_id
    return member_id


@dataclass(frozen=True)
class Change:
    value: str
    at: datetime  # when it occurred: its event's occurred_at


# The copied columns member.* events change, each beside the column of when its last change
# occurred (NULL in the copy: as created; in the waiting table: nothing waits for it).
STAMPED_FIELDS = (("name", "name_at"), ("status", "status_at"), ("branch_id", "branch_at"))
_COLUMNS = ", ".join(column for pair in STAMPED_FIELDS for column in pair)
_WAITING_COLUMNS = ", ".join(f"w.{column}" for pair in STAMPED_FIELDS for column in pair)
_CHANGES = (
    "unnest(CAST(:ids AS uuid[]), CAST(:name AS text[]), CAST(:name_at AS timestamptz[]), "
    "CAST(:status AS text[]), CAST(:status_at AS timestamptz[]), "
    "CAST(:branch_id AS uuid[]), CAST(:branch_at AS timestamptz[])) "
    f"AS c(id, {_COLUMNS})"
)


def _newer(source: str, target: str) -> str:
    """SET clauses taking each field of `source` that is newer than `target`'s: a change that
    arrives after a later one (its first delivery failed and came back from a retry queue, or
    another process took it) leaves the later one in place."""
    clauses = []
    for field, stamp in STAMPED_FIELDS:
        newer = (
            f"{source}.{field} IS NOT NULL AND "
            f"({target}.{stamp} IS NULL OR {source}.{stamp} > {target}.{stamp})"
        )
        clauses.append(
            f"{field} = CASE WHEN {newer} THEN {source}.{field} ELSE {target}.{field} END"
        )
        clauses.append(
            f"{stamp} = CASE WHEN {newer} THEN {source}.{stamp} ELSE {target}.{stamp} END"
        )
    return ", ".join(clauses)


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
