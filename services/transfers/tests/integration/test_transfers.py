"""Transfers through their steps on the real database: who may take which step, one open
transfer a member however many ask at once, and every step recorded with its event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.calendar import WorkingDayCalendar
from shared.caller import Caller
from shared.events import (
    ImportedMember,
    MemberDeparted,
    MembersImported,
    MemberTransferRefused,
    MemberUpdated,
)
from shared.problems import Problem
from shared.testing import deliver as deliver_events
from transfers import service
from transfers.handlers import NOT_FOLLOWED_QUEUE, subscriptions
from transfers.settings import TransfersSettings

from .conftest import Tree, admin_of, deliver, member_caller

NewMember = Callable[[uuid.UUID], Awaitable[uuid.UUID]]
Db = Callable[..., Awaitable[list[Any]]]
CALENDAR = WorkingDayCalendar()
TODAY = date(2026, 12, 3)  # a Thursday: five working days run to Thursday 10 December


async def ask(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    member: uuid.UUID,
    to: uuid.UUID,
    reason: str = "employment",
) -> service.Opened:
    async with sessions() as session, session.begin():
        return await service.request_transfer(
            session,
            caller,
            CALENDAR,
            member_id=member,
            to_org_id=to,
            reason=reason,
            note="",
            today=TODAY,
        )


async def step(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    transfer: uuid.UUID,
    action: str,
    reason: str = "",
    today: date = TODAY,
) -> service.Opened:
    async with sessions() as session, session.begin():
        return await service.take_step(
            session, caller, CALENDAR, transfer, action, today=today, reason=reason
        )


async def refusal(awaitable: Awaitable[Any]) -> tuple[int, str]:
    with pytest.raises(Problem) as caught:
        await awaitable
    return caught.value.status, caught.value.code


async def events_of(db: Db, transfer: uuid.UUID) -> list[str]:
    rows = await db(
        "SELECT type FROM outbox WHERE envelope->'data'->>'transfer_id' = :t ORDER BY created_at",
        t=str(transfer),
    )
    return [r.type for r in rows]


async def test_a_member_moves_with_both_branches_approving_in_turn(
    sessions: async_sessionmaker[AsyncSession], tree: Tree, new_member: NewMember, db: Db
) -> None:
    member = await new_member(tree.branch_a)
    opened = await ask(sessions, member_caller(member, tree.branch_a), member, tree.branch_b)
    assert (opened.status, opened.due_by) == ("pending_out", date(2026, 12, 10))
    # A second one while this one is open.
    assert await refusal(ask(sessions, admin_of(tree.county_a), member, tree.branch_b)) == (
        409,
        "transfer.already_open",
    )
    # The in-branch cannot go first; the out-branch's county can.
    assert await refusal(step(sessions, admin_of(tree.branch_b), opened.id, "approve")) == (
        409,
        "transfer.not_your_turn",
    )
    out = await step(
        sessions, admin_of(tree.county_a), opened.id, "approve", today=date(2026, 12, 8)
    )
    assert (out.status, out.due_by) == ("pending_in", date(2026, 12, 15))
    assert await refusal(step(sessions, admin_of(tree.branch_a), opened.id, "approve")) == (
        409,
        "transfer.not_your_turn",
    )
    done = await step(sessions, admin_of(tree.branch_b), opened.id, "approve")
    assert done.status == "completed"

    assert await events_of(db, opened.id) == [
        "transfer.requested",
        "transfer.out_approved",
        "transfer.completed",
    ]
    async with sessions() as session:
        history = await service.transfer_history(session, admin_of(tree.county_b), opened.id)
        mine = await service.transfer_history(
            session, member_caller(member, tree.branch_a), opened.id
        )
        assert await refusal(
            service.transfer_history(session, admin_of(uuid.uuid4()), opened.id)
        ) == (404, "transfer.not_found")
    assert mine == history
    assert [s["step"] for s in history.steps] == ["requested", "out_approved", "completed"]
    assert [s["actor_role"] for s in history.steps] == ["member", "admin", "admin"]
    # Each review against the deadline it had: the out-review was due on the 10th.
    assert history.steps[1]["due_by"] == date(2026, 12, 10)
    assert history.status == "completed" and history.due_by is None and history.ended_at
    # The member is in branch B from now on, before members' member.transferred comes back:
    # the old branch may not send them elsewhere, the new one may.
    assert await refusal(ask(sessions, admin_of(tree.branch_a), member, tree.branch_a)) == (
        404,
        "member.not_found",
    )
    onward = await ask(sessions, admin_of(tree.branch_b), member, tree.branch_a)
    assert onward.status == "pending_out"


async def test_two_requests_at_once_make_one_transfer(
    sessions: async_sessionmaker[AsyncSession], tree: Tree, new_member: NewMember, db: Db
) -> None:
    member = await new_member(tree.branch_a)
    outcomes = await asyncio.gather(
        *(ask(sessions, admin_of(tree.branch_a), member, tree.branch_b) for _ in range(5)),
        return_exceptions=True,
    )
    opened = [o for o in outcomes if isinstance(o, service.Opened)]
    conflicts = [o for o in outcomes if isinstance(o, Problem)]
    assert len(opened) == 1 and len(conflicts) == 4
    assert {c.code for c in conflicts} == {"transfer.already_open"}
    [count] = await db("SELECT count(*) AS n FROM transfers WHERE member_id = :m", m=member)
    assert count.n == 1


async def test_refusals_need_a_reason_and_only_the_requester_cancels(
    sessions: async_sessionmaker[AsyncSession], tree: Tree, new_member: NewMember, db: Db
) -> None:
    member = await new_member(tree.branch_a)
    asker = member_caller(member, tree.branch_a)
    first = await ask(sessions, asker, member, tree.branch_b)
    assert await refusal(step(sessions, admin_of(tree.branch_a), first.id, "reject", " ")) == (
        422,
        "transfer.reason_required",
    )
    rejected = await step(sessions, admin_of(tree.branch_a), first.id, "reject", "材料不全")
    assert rejected.status == "rejected"
    second = await ask(sessions, asker, member, tree.branch_b)
    assert await refusal(step(sessions, admin_of(tree.county_a), second.id, "cancel")) == (
        403,
        "transfer.not_requester",
    )
    assert (await step(sessions, asker, second.id, "cancel")).status == "cancelled"
    assert await events_of(db, first.id) == ["transfer.requested", "transfer.rejected"]
    assert await events_of(db, second.id) == ["transfer.requested", "transfer.cancelled"]


async def test_a_target_that_starts_dissolving_rejects_the_transfer_at_its_in_review(
    sessions: async_sessionmaker[AsyncSession], tree: Tree, new_member: NewMember, db: Db
) -> None:
    member = await new_member(tree.branch_b)
    opened = await ask(sessions, admin_of(tree.branch_b), member, tree.branch_a)
    await step(sessions, admin_of(tree.branch_b), opened.id, "approve")
    await db("UPDATE org_replica SET status = 'dissolving' WHERE id = :b", b=tree.branch_a)
    try:
        ended = await step(sessions, admin_of(tree.branch_a), opened.id, "approve")
    finally:
        await db("UPDATE org_replica SET status = 'active' WHERE id = :b", b=tree.branch_a)
    assert ended.status == "rejected"
    [event] = await db(
        "SELECT envelope->'data' AS data FROM outbox WHERE type = 'transfer.rejected' "
        "AND envelope->'data'->>'transfer_id' = :t",
        t=str(opened.id),
    )
    assert (event.data["at"], event.data["code"]) == ("in", "transfer.target_inactive")


async def test_requests_the_rules_refuse_write_nothing(
    sessions: async_sessionmaker[AsyncSession], tree: Tree, new_member: NewMember, db: Db
) -> None:
    member = await new_member(tree.branch_a)
    cases = [
        (admin_of(tree.county_b), tree.branch_b, (404, "member.not_found")),
        (admin_of(tree.county_a), tree.county_b, (422, "transfer.target_not_branch")),
        (admin_of(tree.county_a), tree.branch_a, (422, "transfer.same_branch")),
        (admin_of(tree.county_a), uuid.uuid4(), (422, "transfer.target_not_found")),
    ]
    for caller, target, expected in cases:
        assert await refusal(ask(sessions, caller, member, target)) == expected
    await db("UPDATE transfer_members SET status = 'departed' WHERE member_id = :m", m=member)
    assert await refusal(ask(sessions, admin_of(tree.county_a), member, tree.branch_b)) == (
        409,
        "transfer.member_not_active",
    )
    assert not await db("SELECT 1 FROM transfers WHERE member_id = :m", m=member)


async def test_the_branch_whose_turn_it_is_says_why_it_is_late(
    sessions: async_sessionmaker[AsyncSession], tree: Tree, new_member: NewMember
) -> None:
    member = await new_member(tree.branch_a)
    opened = await ask(sessions, admin_of(tree.branch_a), member, tree.branch_b)
    async with sessions() as session, session.begin():
        await service.add_delay_note(session, admin_of(tree.branch_a), opened.id, "书记出差")
    async with sessions() as session, session.begin():
        assert await refusal(
            service.add_delay_note(session, admin_of(tree.branch_b), opened.id, "?")
        ) == (409, "transfer.not_your_turn")
    async with sessions() as session:
        history = await service.transfer_history(
            session, member_caller(member, tree.branch_a), opened.id
        )
    assert [n["reason"] for n in history.delay_notes] == ["书记出差"]
    assert history.delay_notes[0]["branch_id"] == tree.branch_a


async def test_the_member_copy_follows_member_events_whatever_their_order(
    settings: TransfersSettings, tree: Tree, new_member: NewMember, db: Db
) -> None:
    member = await new_member(tree.branch_a)
    early = uuid.uuid4()  # its change arrives before its creation (a creation retried)
    await deliver(
        settings,
        MemberUpdated(
            member_id=member,
            branch_id=tree.branch_a,
            changed_fields=["status"],
            values={"status": "departed"},
        ),
        MemberUpdated(
            member_id=early,
            branch_id=tree.branch_b,
            changed_fields=["name"],
            values={"name": "赵六"},
        ),
        MembersImported(
            branch_id=tree.branch_b,
            members=[
                ImportedMember(
                    member_id=early, member_no="202612039999", name="赵", joined_on=TODAY
                )
            ],
        ),
    )
    rows = await db(
        "SELECT member_id, name, status FROM transfer_members WHERE member_id = ANY(:ids)",
        ids=[member, early],
    )
    assert {r.member_id: (r.name, r.status) for r in rows} == {
        member: ("团员", "departed"),
        early: ("赵六", "active"),
    }


async def test_a_member_who_leaves_has_the_open_transfer_ended_by_the_system(
    sessions: async_sessionmaker[AsyncSession],
    settings: TransfersSettings,
    tree: Tree,
    new_member: NewMember,
    db: Db,
) -> None:
    member = await new_member(tree.branch_a)
    opened = await ask(sessions, admin_of(tree.branch_a), member, tree.branch_b)
    await step(sessions, admin_of(tree.branch_a), opened.id, "approve")
    departed = MemberDeparted(
        member_id=member, branch_id=tree.branch_a, reason="joined_party", on=TODAY
    )
    await deliver(settings, departed, departed)  # told twice, ended once
    async with sessions() as session:
        history = await service.transfer_history(session, admin_of(tree.county_b), opened.id)
    assert history.status == "rejected"
    assert (history.steps[-1]["actor_role"], history.steps[-1]["reason"]) == (
        "system",
        "member.departed",
    )
    [event] = await db(
        "SELECT envelope->'data' AS data FROM outbox WHERE type = 'transfer.rejected' "
        "AND envelope->'data'->>'transfer_id' = :t",
        t=str(opened.id),
    )
    assert (event.data["at"], event.data["code"]) == ("in", "member.departed")
    # Nor can one be asked for now.
    assert await refusal(ask(sessions, admin_of(tree.branch_a), member, tree.branch_b)) == (
        409,
        "transfer.member_not_active",
    )


async def test_a_completion_the_record_did_not_follow_ends_the_transfer_rejected(
    sessions: async_sessionmaker[AsyncSession],
    settings: TransfersSettings,
    tree: Tree,
    new_member: NewMember,
    db: Db,
) -> None:
    member = await new_member(tree.branch_a)
    opened = await ask(sessions, admin_of(tree.branch_a), member, tree.branch_b)
    await step(sessions, admin_of(tree.branch_a), opened.id, "approve")
    done = await step(sessions, admin_of(tree.branch_b), opened.id, "approve")
    assert done.status == "completed"
    # The member had left before members heard of the request: the departure reaches us after
    # the completion, and members says it did not move the record.
    departed = MemberDeparted(
        member_id=member, branch_id=tree.branch_a, reason="joined_party", on=TODAY
    )
    await deliver(settings, departed)
    refused = MemberTransferRefused(
        member_id=member,
        transfer_id=opened.id,
        from_branch_id=tree.branch_a,
        to_branch_id=tree.branch_b,
        reason="departed",
    )
    await deliver_events(settings, subscriptions, NOT_FOLLOWED_QUEUE, refused, refused)
    async with sessions() as session:
        history = await service.transfer_history(session, admin_of(tree.county_b), opened.id)
    assert history.status == "rejected"
    assert [s["step"] for s in history.steps] == [
        "requested",
        "out_approved",
        "completed",
        "rejected",  # once, though told twice
    ]
    assert (history.steps[-1]["actor_role"], history.steps[-1]["reason"]) == (
        "system",
        "member.departed",
    )
    assert await events_of(db, opened.id) == [
        "transfer.requested",
        "transfer.out_approved",
        "transfer.completed",
        "transfer.rejected",
    ]
    # The copy of members is where the record is: the old branch, left.
    [copied] = await db(
        "SELECT branch_id, status FROM transfer_members WHERE member_id = :m", m=member
    )
    assert (copied.branch_id, copied.status) == (tree.branch_a, "left")
