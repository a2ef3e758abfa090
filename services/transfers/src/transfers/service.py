"""Use cases of the transfers service: asking for a transfer and taking its steps, each in the
caller's transaction with its step row, its event (outbox) and its audit row.

The rules (who, when, where a step leads) are `transfers.domain.process`; this module loads
what they need (the member and both branches from the service's event-fed copies), applies
them, and writes the outcome. One open transfer a member is the database's guarantee (a
partial unique index), so two requests at once make one transfer and one 409.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import audit
from shared.calendar import WorkingDayCalendar, beijing_today
from shared.caller import SYSTEM_CALLER, Caller
from shared.events import (
    Envelope,
    Event,
    MemberDeparted,
    MemberTransferRefused,
    TransferCancelled,
    TransferCompleted,
    TransferEvent,
    TransferOutApproved,
    TransferRejected,
    TransferRequested,
)
from shared.member_copy import MemberCopy
from shared.orgtree import OrgNode, is_admin_over, replica_node_in_scope
from shared.outbox import record_event
from shared.problems import Problem
from shared.telemetry import current_trace_id
from transfers.domain import process
from transfers.domain.process import Step, Target, TransferRefused

PRODUCER = "transfers"
# Who may move and from where, fed by member.* events (transfers.handlers) and by the transfers
# this service completes (take_step).
MEMBER_COPY = MemberCopy(members="transfer_members", waiting="transfer_member_updates")


def refused(refusal: TransferRefused) -> Problem:
    return Problem(refusal.status, refusal.code, str(refusal))


def transfer_not_found() -> Problem:
    return Problem(404, "transfer.not_found", "No such transfer, or not one you may see.")


@dataclass(frozen=True)
class Opened:
    id: uuid.UUID
    status: str
    due_by: date


async def request_transfer(
    session: AsyncSession,
    caller: Caller,
    calendar: WorkingDayCalendar,
    *,
    member_id: uuid.UUID,
    to_org_id: uuid.UUID,
    reason: str,
    note: str,
    today: date,
) -> Opened:
    """The member, or an admin over the member's branch, asks to move the member.

    Three statements besides the transaction's own: the member with both branches from the
    copies, the transfer with its first step and audit row, the event (the request path of a
    transfer wave is mostly round trips to the database)."""
    found = (
        await session.execute(
            text(
                "SELECT m.branch_id, m.status, b.path AS branch_path, t.id AS target_id, "
                "t.org_type AS target_type, t.status AS target_status "
                "FROM (SELECT) AS one "
                "LEFT JOIN transfer_members m ON m.member_id = :m "
                "LEFT JOIN org_replica b ON b.id = m.branch_id "
                "LEFT JOIN org_replica t ON t.id = :to"
            ),
            {"m": member_id, "to": to_org_id},
        )
    ).one()
    if (
        found.branch_id is None
        or found.branch_path is None
        or not (caller.member_id == member_id or is_admin_over(caller, found.branch_path))
    ):
        raise Problem(404, "member.not_found", "No such member, or not one you may see.")
    if found.status != "active":
        raise Problem(
            409, "transfer.member_not_active", f"The member is {found.status}, not active."
        )
    if found.target_id is None:
        raise Problem(422, "transfer.target_not_found", "No organisation has this id.")
    try:
        process.check_request(
            found.branch_id,
            Target(found.target_id, found.target_type, found.target_status),
            reason,
        )
    except TransferRefused as refusal:
        raise refused(refusal) from None
    due = process.due_by(today, calendar)
    transfer_id = uuid.uuid4()
    opened = (
        await session.execute(
            text(
                "WITH opened AS (INSERT INTO transfers (id, member_id, from_branch_id, "
                "to_branch_id, reason, note, status, requested_by, due_by) VALUES (:id, :member, "
                ":from, :to, :reason, :note, 'pending_out', :by, :due) "
                "ON CONFLICT (member_id) WHERE status IN ('pending_out', 'pending_in') DO NOTHING "
                "RETURNING id), "
                "step AS (INSERT INTO transfer_steps (transfer_id, step, actor_account_id, "
                "actor_role, taken_on) SELECT id, 'requested', :by, :role, :today FROM opened), "
                "audited AS (INSERT INTO audit_log (actor_account_id, actor_role, action, "
                "target_type, target_id, trace_id) SELECT :by, :role, 'transfer.requested', "
                "'transfer', CAST(id AS text), :trace FROM opened) "
                "SELECT id FROM opened"
            ),
            {
                "id": transfer_id,
                "member": member_id,
                "from": found.branch_id,
                "to": to_org_id,
                "reason": reason,
                "note": note,
                "by": caller.account_id,
                "role": caller.role,
                "due": due,
                "today": today,
                "trace": current_trace_id(),
            },
        )
    ).first()
    if opened is None:
        raise Problem(409, "transfer.already_open", "The member has a transfer under way already.")
    await record_event(
        session,
        TransferRequested(
            transfer_id=transfer_id,
            member_id=member_id,
            from_branch_id=found.branch_id,
            to_branch_id=to_org_id,
            due_by=due,
        ),
        PRODUCER,
    )
    return Opened(transfer_id, "pending_out", due)


async def _record_step(
    session: AsyncSession,
    caller: Caller,
    transfer_id: uuid.UUID,
    step: str,
    today: date,
    due_by: date | None,
    reason: str | None,
    branch_id: uuid.UUID | None,
) -> None:
    """One step in the history; `branch_id` the branch whose review it was (None for the
    request and a cancellation), which timeliness counts."""
    await session.execute(
        text(
            "INSERT INTO transfer_steps (transfer_id, step, actor_account_id, actor_role, "
            "taken_on, due_by, reason, branch_id) "
            "VALUES (:t, :step, :actor, :role, :on, :due, :reason, :branch)"
        ),
        {
            "t": transfer_id,
            "step": step,
            "actor": caller.account_id,
            "role": caller.role,
            "on": today,
            "due": due_by,
            "reason": reason,
            "branch": branch_id,
        },
    )


async def _with_paths(session: AsyncSession, transfer_id: uuid.UUID, *, lock: bool) -> Any:
    """The transfer with both branches' paths; locked for a step (steps of one transfer take
    turns)."""
    return (
        await session.execute(
            text(
                "SELECT t.*, f.path AS from_path, o.path AS to_path, o.status AS to_status "
                "FROM transfers t LEFT JOIN org_replica f ON f.id = t.from_branch_id "
                "LEFT JOIN org_replica o ON o.id = t.to_branch_id "
                "WHERE t.id = :id" + (" FOR UPDATE OF t" if lock else "")
            ),
            {"id": transfer_id},
        )
    ).first()


def _sees(caller: Caller, row: Any) -> bool:
    """The member concerned, and admins over either branch, see a transfer."""
    return caller.member_id == row.member_id or any(
        path is not None and is_admin_over(caller, path) for path in (row.from_path, row.to_path)
    )


def _rules_view(row: Any) -> process.Transfer:
    return process.Transfer(
        row.status, tuple(row.from_path or ()), tuple(row.to_path or ()), row.requested_by
    )


async def take_step(
    session: AsyncSession,
    caller: Caller,
    calendar: WorkingDayCalendar,
    transfer_id: uuid.UUID,
    action: str,
    *,
    today: date,
    reason: str = "",
) -> Opened:
    """`approve`, `reject` (with a reason) or `cancel`, by whoever the rules allow."""
    # The member's row of the copy before the transfer's, as a batch of member events takes
    # them (a departure: the copy, then the member's open transfers); a completion moves it.
    member_id = await session.scalar(
        text("SELECT member_id FROM transfers WHERE id = :id"), {"id": transfer_id}
    )
    if member_id is not None:
        await MEMBER_COPY.hold(session, [member_id])
    row = await _with_paths(session, transfer_id, lock=True)
    if row is None or not _sees(caller, row):
        raise transfer_not_found()
    current = _rules_view(row)
    try:
        if action == "approve":
            step = process.approve(
                current,
                caller,
                today=today,
                calendar=calendar,
                target_active=row.to_status == "active",
            )
        elif action == "reject":
            step = process.reject(current, caller, reason)
        else:
            step = process.cancel(current, caller)
    except TransferRefused as refusal:
        raise refused(refusal) from None
    ended = step.status not in process.OPEN
    await session.execute(
        text(
            "UPDATE transfers SET status = :status, due_by = :due, "
            "ended_at = CASE WHEN :ended THEN now() END WHERE id = :id"
        ),
        {"id": transfer_id, "status": step.status, "due": step.due_by, "ended": ended},
    )
    name = step.event.removeprefix("transfer.")
    reviewer = None if action == "cancel" else _branch_whose_turn(row)
    await _record_step(
        session, caller, transfer_id, name, today, row.due_by, reason or step.refusal, reviewer
    )
    await record_event(session, _event_of(step, row), PRODUCER)
    await audit(session, caller, step.event, "transfer", transfer_id)
    if step.event == "transfer.completed":
        # The copy of members says where the member is from now on: until members' own
        # member.transferred came back, a new request from the old branch was accepted, and
        # members then found the member elsewhere and applied neither that transfer nor any
        # word of it. The event, when it comes, is newer and changes nothing more.
        await MEMBER_COPY.move(session, row.member_id, row.to_branch_id, datetime.now(UTC))
    return Opened(transfer_id, step.status, step.due_by or row.due_by)


def _branch_whose_turn(row: Any) -> uuid.UUID:
    """The branch reviewing an open transfer: the one it leaves, then the one it joins."""
    branch: uuid.UUID = row.from_branch_id if row.status == "pending_out" else row.to_branch_id
    return branch


def _event_of(step: Step, row: Any) -> TransferEvent:
    common = {
        "transfer_id": row.id,
        "member_id": row.member_id,
        "from_branch_id": row.from_branch_id,
        "to_branch_id": row.to_branch_id,
    }
    if step.event == "transfer.out_approved":
        assert step.due_by is not None
        return TransferOutApproved(**common, due_by=step.due_by)
    if step.event == "transfer.completed":
        return TransferCompleted(**common)
    if step.event == "transfer.cancelled":
        return TransferCancelled(**common)
    return TransferRejected(
        **common, at="out" if row.status == "pending_out" else "in", code=step.refusal
    )


async def add_delay_note(
    session: AsyncSession, caller: Caller, transfer_id: uuid.UUID, reason: str
) -> uuid.UUID:
    """The branch whose turn it is says why its review is late; the other branch and the member
    read it on the transfer."""
    row = await _with_paths(session, transfer_id, lock=True)
    if row is None or not _sees(caller, row):
        raise transfer_not_found()
    try:
        process.check_delay_note(_rules_view(row), caller, reason)
    except TransferRefused as refusal:
        raise refused(refusal) from None
    note_id = uuid.uuid4()
    branch = _branch_whose_turn(row)
    await session.execute(
        text(
            "INSERT INTO transfer_delay_notes (id, transfer_id, branch_id, reason, written_by) "
            "VALUES (:id, :t, :b, :reason, :by)"
        ),
        {"id": note_id, "t": transfer_id, "b": branch, "reason": reason, "by": caller.account_id},
    )
    await audit(session, caller, "transfer.delay_noted", "transfer", transfer_id)
    return note_id


@dataclass(frozen=True)
class History:
    """A transfer with every step taken and every delay note, oldest first."""

    id: uuid.UUID
    member_id: uuid.UUID
    from_branch_id: uuid.UUID
    to_branch_id: uuid.UUID
    reason: str
    note: str
    status: str
    due_by: date | None
    requested_at: datetime
    ended_at: datetime | None
    steps: list[dict[str, Any]]
    delay_notes: list[dict[str, Any]]


async def transfer_history(
    session: AsyncSession, caller: Caller, transfer_id: uuid.UUID
) -> History:
    row = await _with_paths(session, transfer_id, lock=False)
    if row is None or not _sees(caller, row):
        raise transfer_not_found()
    steps = [
        dict(r._mapping)
        for r in await session.execute(
            text(
                "SELECT step, actor_account_id, actor_role, taken_at, due_by, reason "
                "FROM transfer_steps WHERE transfer_id = :id ORDER BY id"
            ),
            {"id": transfer_id},
        )
    ]
    notes = [
        dict(r._mapping)
        for r in await session.execute(
            text(
                "SELECT branch_id, reason, written_by, written_at FROM transfer_delay_notes "
                "WHERE transfer_id = :id ORDER BY written_at"
            ),
            {"id": transfer_id},
        )
    ]
    return History(
        row.id,
        row.member_id,
        row.from_branch_id,
        row.to_branch_id,
        row.reason,
        row.note,
        row.status,
        row.due_by,
        row.requested_at,
        row.ended_at,
        steps,
        notes,
    )


@dataclass(frozen=True)
class Listed:
    id: uuid.UUID
    member_id: uuid.UUID
    from_branch_id: uuid.UUID
    to_branch_id: uuid.UUID
    status: str
    due_by: date | None
    overdue: bool
    requested_at: datetime


def _listed(r: Any, today: date) -> Listed:
    return Listed(
        r.id,
        r.member_id,
        r.from_branch_id,
        r.to_branch_id,
        r.status,
        r.due_by,
        r.status in process.OPEN and process.is_overdue(r.due_by, today),
        r.requested_at,
    )


async def transfers_of(
    session: AsyncSession,
    caller: Caller,
    org_id: uuid.UUID,
    *,
    incoming: bool,
    status: str | None,
    overdue_only: bool,
    today: date,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Listed]:
    """Transfers out of (or into) the organisation's branches, newest first, for an admin over
    it; `overdue_only`: open ones past their step's due date."""
    await replica_node_in_scope(session, caller, org_id)
    side = "to_branch_id" if incoming else "from_branch_id"
    rows = await session.execute(
        text(
            f"SELECT * FROM transfers WHERE {side} IN "  # noqa: S608 (a column name of ours)
            "(SELECT id FROM org_replica WHERE path @> ARRAY[CAST(:org AS uuid)]) "
            "AND (CAST(:status AS text) IS NULL OR status = :status) "
            "AND (NOT :overdue OR (status IN ('pending_out', 'pending_in') AND due_by < :today)) "
            "AND (CAST(:after_at AS timestamptz) IS NULL OR "
            "(requested_at, id) < (CAST(:after_at AS timestamptz), :after_id)) "
            "ORDER BY requested_at DESC, id DESC LIMIT :limit"
        ),
        {
            "org": org_id,
            "status": status,
            "overdue": overdue_only,
            "today": today,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [_listed(r, today) for r in rows]


async def transfers_of_member(
    session: AsyncSession, caller: Caller, member_id: uuid.UUID, today: date, limit: int
) -> list[Listed]:
    """A member's transfers, newest first: the member's own, or those an admin over either
    branch sees (a member moves rarely: the latest few are the whole story)."""
    rows = await session.execute(
        text(
            "SELECT t.*, f.path AS from_path, o.path AS to_path FROM transfers t "
            "LEFT JOIN org_replica f ON f.id = t.from_branch_id "
            "LEFT JOIN org_replica o ON o.id = t.to_branch_id "
            "WHERE t.member_id = :member ORDER BY t.requested_at DESC, t.id DESC LIMIT :limit"
        ),
        {"member": member_id, "limit": limit},
    )
    return [_listed(r, today) for r in rows if _sees(caller, r)]


@dataclass(frozen=True)
class Timeliness:
    """Review steps due in a period over an organisation's subtree, and those done in time."""

    org_id: uuid.UUID
    steps_due: int
    steps_in_time: int


async def timeliness(
    session: AsyncSession, org: OrgNode, first_day: date, last_day: date, today: date
) -> tuple[Timeliness, list[Timeliness]]:
    """Steps due from `first_day` to `last_day` over `org`'s subtree, and for each direct child:
    the reviews taken (in time when taken by their due date) and the open ones already overdue
    (late). One statement; the assessment (issue 11) reads it."""
    rows = (
        await session.execute(
            text(
                "WITH due AS ("
                "  SELECT branch_id, taken_on <= due_by AS in_time FROM transfer_steps"
                "  WHERE branch_id IS NOT NULL AND due_by BETWEEN :first AND :last"
                "  UNION ALL"
                "  SELECT CASE status WHEN 'pending_out' THEN from_branch_id"
                "    ELSE to_branch_id END, false FROM transfers"
                "  WHERE status IN ('pending_out', 'pending_in') AND due_by < :today"
                "    AND due_by BETWEEN :first AND :last) "
                "SELECT b.path[CAST(:depth AS int) + 1] AS child, count(*) AS due, "
                "count(*) FILTER (WHERE due.in_time) AS in_time "
                "FROM due JOIN org_replica b ON b.id = due.branch_id "
                "WHERE b.path[1:CAST(:depth AS int)] = CAST(:path AS uuid[]) GROUP BY 1"
            ),
            {
                "first": first_day,
                "last": last_day,
                "today": today,
                "depth": len(org.path),
                "path": list(org.path),
            },
        )
    ).all()
    children = [Timeliness(r.child, r.due, r.in_time) for r in rows if r.child is not None]
    total = Timeliness(org.id, sum(r.due for r in rows), sum(r.in_time for r in rows))
    return total, sorted(children, key=lambda c: str(c.org_id))


async def timeliness_share(session: AsyncSession, org: OrgNode, year: int) -> list[Any]:
    """`timeliness` of a Beijing year as the assessment's rows (child, in time, due); the
    organisation's own steps count in the total under no child."""
    total, children = await timeliness(
        session, org, date(year, 1, 1), date(year, 12, 31), beijing_today()
    )
    rows: list[Any] = [(c.org_id, c.steps_in_time, c.steps_due) for c in children]
    own = (
        total.steps_in_time - sum(c.steps_in_time for c in children),
        total.steps_due - sum(c.steps_due for c in children),
    )
    return [*rows, (None, *own)] if own[1] else rows


# The system's code on a transfer ended because its member left.
DEPARTED = "member.departed"
# The system's codes on a completed transfer the record did not follow, by members' reason.
NOT_FOLLOWED = {"departed": DEPARTED, "elsewhere": "member.elsewhere"}


async def members_departed(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """After the copy took a batch of member events: end the transfers of those who left."""
    await end_transfers_of_departed(
        session, [e.member_id for e, _ in batch if isinstance(e, MemberDeparted)]
    )


async def end_transfers_of_departed(session: AsyncSession, members: Sequence[uuid.UUID]) -> int:
    """A member who left the league's rolls moves nowhere: their open transfers are rejected by
    the system (`member.departed`), each with its step and event. Returns how many."""
    if not members:
        return 0
    ended = (
        await session.execute(
            text(
                "WITH open AS (SELECT id, status FROM transfers WHERE member_id = ANY(:members) "
                "AND status IN ('pending_out', 'pending_in') FOR UPDATE) "
                "UPDATE transfers t SET status = 'rejected', ended_at = now() FROM open "
                "WHERE t.id = open.id RETURNING t.id, t.member_id, t.from_branch_id, "
                "t.to_branch_id, open.status AS was"
            ),
            {"members": list(members)},
        )
    ).all()
    for row in ended:
        await _rejected_by_the_system(
            session, row, "out" if row.was == "pending_out" else "in", DEPARTED
        )
    return len(ended)


async def _rejected_by_the_system(
    session: AsyncSession, transfer: Any, at: Literal["out", "in"], code: str
) -> None:
    """The step and event of a transfer the system ended (`transfer`: a row with its id, member
    and branches), with the code that says why."""
    await _record_step(
        session, SYSTEM_CALLER, transfer.id, "rejected", beijing_today(), None, code, None
    )
    await record_event(
        session,
        TransferRejected(
            transfer_id=transfer.id,
            member_id=transfer.member_id,
            from_branch_id=transfer.from_branch_id,
            to_branch_id=transfer.to_branch_id,
            at=at,
            code=code,
        ),
        PRODUCER,
    )


async def completion_not_followed(session: AsyncSession, event: Event, envelope: Envelope) -> None:
    """members did not move the record for a transfer completed here: its member had left the
    rolls meanwhile (the departure raced the request, before members heard of it, and
    `member.departed` reached us after the completion), or was in another branch. The transfer
    must not stand as completed: it ends rejected by the system, with its step and event, and
    the copy of members goes back to the branch the member left from."""
    assert isinstance(event, MemberTransferRefused)
    await MEMBER_COPY.hold(session, [event.member_id])  # before the transfer, as in take_step
    ended = (
        await session.execute(
            text(
                "UPDATE transfers SET status = 'rejected', ended_at = now() "
                "WHERE id = :id AND status = 'completed' "
                "RETURNING id, member_id, from_branch_id, to_branch_id"
            ),
            {"id": event.transfer_id},
        )
    ).first()
    if ended is None:
        return  # not ours, or ended already
    await _rejected_by_the_system(session, ended, "in", NOT_FOLLOWED[event.reason])
    if event.reason == "departed":
        await MEMBER_COPY.move(session, ended.member_id, ended.from_branch_id, envelope.occurred_at)
