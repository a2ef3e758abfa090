"""The month start: opening a dues cycle, and writing the bills of one chunk of it.

Opening is cheap and happens once however often it is asked for (a row per month); the work is
one `GenerateBills` command per chunk of branches, taken by however many `fees-worker`
processes run. Each chunk is one set-based INSERT ... SELECT in one transaction, and a bill's
uniqueness per member and month is a constraint: a chunk done twice bills nobody twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fees.commands import GenerateBills
from fees.db import FeeCycle
from fees.domain.cycles import CHUNK_MEMBERS
from fees.domain.months import check_not_too_far, label, next_month
from fees.service import PRODUCER
from shared.calendar import BEIJING
from shared.caller import Caller
from shared.chunks import chunks_of
from shared.events import BillsGenerated, BranchBills
from shared.logging import get_logger
from shared.outbox import record_event, record_events
from shared.problems import Problem

log = get_logger(__name__)


@dataclass(frozen=True)
class CycleState:
    month: date
    chunks_total: int
    chunks_done: int
    bills: int
    started_at: datetime
    finished_at: datetime | None
    profiles_on_other_tables: int


@dataclass(frozen=True)
class ChunkDone:
    bills: int  # written for this chunk
    cycle: CycleState  # the whole cycle's progress with it


def _state(cycle: FeeCycle | Any) -> CycleState:
    return CycleState(
        cycle.month,
        cycle.chunks_total,
        cycle.chunks_done,
        cycle.bills,
        cycle.started_at,
        cycle.finished_at,
        cycle.profiles_on_other_tables,
    )


async def first_month_billed(session: AsyncSession, today: date) -> date:
    """The first month a profile set now is billed in, so the month whose rate table prices
    it: this month until its cycle opens, then the next (whose bills, should its cycle have
    opened early, follow the profile: follow_into_unbegun_months). Set in December after
    December's bills went out, a profile is priced by January's table, as
    `zhtj-fees recompute-amounts` prices every other for January."""
    this_month = today.replace(day=1)
    opened = await session.scalar(
        text("SELECT EXISTS (SELECT 1 FROM fee_cycles WHERE month = :m)"), {"m": this_month}
    )
    return next_month(this_month) if opened else this_month


async def require_root_admin(session: AsyncSession, caller: Caller) -> None:
    """Cycles are the province's: its root committee's admins (and the system) open and watch
    them."""
    if caller.is_system:
        return
    root = await session.scalar(text("SELECT id FROM org_replica WHERE parent_id IS NULL"))
    if not caller.is_admin or root is None or caller.org_id != root:
        raise Problem(
            403, "auth.root_only", "Only the province's committee opens and follows dues cycles."
        )


async def open_cycle(
    session: AsyncSession,
    caller: Caller | None,
    month: date,
    *,
    today: date,
    rate_table: str,
) -> CycleState:
    """The cycle of `month`, opened now unless it was before (then as it stands). `rate_table`
    is the table in force that month: profiles whose amount another table made are counted and
    said, since the month start bills the amounts as they stand (`zhtj-fees recompute-amounts`
    before the 1st is what brings them to a new table)."""
    check_not_too_far(month, today)
    branches = [
        (row.branch_id, row.members)
        for row in await session.execute(
            text(
                "SELECT branch_id, count(*) AS members FROM fee_members WHERE status = 'active' "
                "GROUP BY branch_id ORDER BY branch_id"
            )
        )
    ]
    chunks = chunks_of(branches, CHUNK_MEMBERS)
    opened = await session.scalar(
        insert(FeeCycle)
        .values(
            month=month,
            chunks_total=len(chunks),
            opened_by=caller.account_id if caller else None,
            # Nothing to bill: done as it opens.
            finished_at=None if chunks else text("now()"),
        )
        .on_conflict_do_nothing(index_elements=[FeeCycle.month])
        .returning(FeeCycle.month)
    )
    if opened is not None:
        stale = await session.scalar(
            text("SELECT count(*) FROM fee_profiles WHERE rate_table <> :t"), {"t": rate_table}
        )
        await session.execute(
            text("UPDATE fee_cycles SET profiles_on_other_tables = :n WHERE month = :month"),
            {"n": stale, "month": month},
        )
        if stale:
            log.warning(
                "fee_profiles_on_other_tables",
                month=label(month),
                table_in_force=rate_table,
                profiles=stale,
            )
    if opened is not None and chunks:
        await session.execute(
            text(
                "INSERT INTO fee_cycle_chunks (month, chunk_no, branch_ids) "
                "VALUES (:month, :n, :branches)"
            ),
            [
                {"month": month, "n": n, "branches": chunk}
                for n, chunk in enumerate(chunks, start=1)
            ],
        )
        await record_events(
            session,
            [GenerateBills(month=month, chunk_no=n) for n in range(1, len(chunks) + 1)],
            PRODUCER,
        )
        log.info("fee_cycle_opened", month=label(month), chunks=len(chunks))
    cycle = await session.get_one(FeeCycle, month, populate_existing=True)
    return _state(cycle)


async def cycle_state(session: AsyncSession, month: date) -> CycleState:
    cycle = await session.get(FeeCycle, month)
    if cycle is None:
        raise Problem(
            404, "fee.cycle_not_found", f"No dues cycle has been opened for {label(month)}."
        )
    return _state(cycle)


def billable(began: str) -> str:
    """SQL: member `m` of the copy is billed for a month when active, with a fee profile, and
    copied before the month began (`began`: SQL of that instant, midnight of the 1st in
    Beijing): who joins or transfers in mid-month is billed from the next cycle. The chunks and
    the transfers made while they run bill by it alike."""
    return (
        f"m.status = 'active' AND m.copied_at < {began} "
        # NULL: no fee profile yet, no bill (the branch's `missing_profile` lists the member).
        "AND m.monthly_fee_fen IS NOT NULL"
    )


# A cycle's chunks hold the branches as they were when it opened, and a chunk bills the members
# in its branches when it runs: a member moved while they run, from a branch whose chunk has not
# run to one whose chunk has (or to one in no chunk), would be billed by neither. Locking the
# chunks of the new branches waits for one that is running; then a member whose new branch no
# chunk still has to bill is billed here, in the transfer's transaction, once (the unique bill
# of a month), as a chunk would have.
_CHUNKS_OF_NEW_BRANCHES = text(
    "SELECT c.month, c.chunk_no FROM fee_cycle_chunks c JOIN fee_cycles f USING (month) "
    "WHERE f.finished_at IS NULL AND c.branch_ids && CAST(:branches AS uuid[]) "
    "ORDER BY c.month, c.chunk_no FOR UPDATE OF c"
)
# When cycle `f`'s month began: midnight of its 1st in Beijing.
_CYCLE_BEGAN = "CAST(f.month AS timestamp) AT TIME ZONE 'Asia/Shanghai'"
_BILL_MOVED = text(
    "WITH made AS ("  # noqa: S608 (constants and `billable`'s SQL only)
    "  INSERT INTO bills (member_id, branch_id, month, amount_fen) "
    "  SELECT m.member_id, m.branch_id, f.month, m.monthly_fee_fen "
    "  FROM fee_cycles f CROSS JOIN fee_members m "
    f"  WHERE f.finished_at IS NULL AND m.member_id = ANY(:moved) AND {billable(_CYCLE_BEGAN)} "
    "    AND NOT EXISTS (SELECT 1 FROM fee_cycle_chunks c WHERE c.month = f.month "
    "      AND c.done_at IS NULL AND m.branch_id = ANY(c.branch_ids)) "
    "  ON CONFLICT (member_id, month) DO NOTHING "
    "  RETURNING month"
    ") UPDATE fee_cycles f SET bills = f.bills + made.n "
    "FROM (SELECT month, count(*) AS n FROM made GROUP BY month) made "
    "WHERE f.month = made.month"
)


async def bill_members_moved_while_generating(
    session: AsyncSession, moved: dict[uuid.UUID, uuid.UUID]
) -> None:
    """Members (id → new branch) just moved in the copy: billed for a cycle still generating
    whose chunks would now miss them. Nothing to do while no cycle is generating."""
    generating = await session.scalar(
        text("SELECT EXISTS (SELECT 1 FROM fee_cycles WHERE finished_at IS NULL)")
    )
    if not generating:
        return
    await session.execute(_CHUNKS_OF_NEW_BRANCHES, {"branches": list(set(moved.values()))})
    await session.execute(_BILL_MOVED, {"moved": list(moved)})


# A cycle may open a month early (POST /fee-cycles for next month): its bills are then written
# from the members and profiles as they stand, weeks before the month begins. Until it begins,
# such a bill follows its member as a cycle opened on the 1st would have found them: a transfer
# takes it to the new branch, a departure (or any status but active) takes it away, a new or
# changed profile prices or makes it. Paid bills stay as they are (the money is accounted for);
# the current month's bill stays with the branch that had the member when the month began. A
# bill whose online payment was begun is not deleted but void (作废), in no list or total: the
# provider may still take the money (a time-out or even a "failed" is not proof it did not),
# and the payment must find its bill to be owed back (payments.settle_callback). A void bill
# comes back due should its member be billable again before the month begins. Repriced while
# a payment is on its way, the provider's "paid" for the old amount is owed back likewise.
# Bill `b` of member `m`, one of these members, of a month not begun yet (the cases below add
# the bill's status and whether `m` is billable).
_UNBEGUN = "b.member_id = m.member_id AND m.member_id = ANY(:ids) AND b.month > :this"
_BILLABLE = "m.status = 'active' AND m.monthly_fee_fen IS NOT NULL"
_PAYMENT_BEGUN = "EXISTS (SELECT 1 FROM payments p WHERE p.bill_id = b.id)"
_FOLLOW_INTO_UNBEGUN_MONTHS = text(
    "WITH gone AS ("  # noqa: S608 (constants and `billable`'s SQL only)
    "  DELETE FROM bills b USING fee_members m "
    f"  WHERE {_UNBEGUN} AND b.status = 'due' AND NOT ({_BILLABLE}) AND NOT {_PAYMENT_BEGUN} "
    "  RETURNING b.month"
    "), voided AS ("
    "  UPDATE bills b SET status = 'void' FROM fee_members m "
    f"  WHERE {_UNBEGUN} AND b.status = 'due' AND NOT ({_BILLABLE}) AND {_PAYMENT_BEGUN} "
    "  RETURNING b.month"
    "), revived AS ("
    "  UPDATE bills b SET status = 'due', branch_id = m.branch_id, amount_fen = m.monthly_fee_fen "
    f"  FROM fee_members m WHERE {_UNBEGUN} AND b.status = 'void' AND {_BILLABLE} "
    "  RETURNING b.month"
    "), followed AS ("
    "  UPDATE bills b SET branch_id = m.branch_id, amount_fen = m.monthly_fee_fen "
    f"  FROM fee_members m WHERE {_UNBEGUN} AND b.status = 'due' AND {_BILLABLE} "
    "    AND (b.branch_id, b.amount_fen) IS DISTINCT FROM (m.branch_id, m.monthly_fee_fen)"
    "), made AS ("
    "  INSERT INTO bills (member_id, branch_id, month, amount_fen) "
    "  SELECT m.member_id, m.branch_id, f.month, m.monthly_fee_fen "
    "  FROM fee_cycles f CROSS JOIN fee_members m "
    f"  WHERE f.month > :this AND m.member_id = ANY(:ids) AND {billable(_CYCLE_BEGAN)} "
    # A chunk still to run for the member's branch bills them itself.
    "    AND NOT EXISTS (SELECT 1 FROM fee_cycle_chunks c WHERE c.month = f.month "
    "      AND c.done_at IS NULL AND m.branch_id = ANY(c.branch_ids)) "
    "  ON CONFLICT (member_id, month) DO NOTHING "
    "  RETURNING month"
    ") UPDATE fee_cycles f SET bills = f.bills + counted.n "
    "FROM (SELECT month, sum(n) AS n FROM ("
    "  SELECT month, -1 AS n FROM gone UNION ALL SELECT month, -1 AS n FROM voided "
    "  UNION ALL SELECT month, 1 AS n FROM revived UNION ALL SELECT month, 1 AS n FROM made"
    ") AS changes GROUP BY month) AS counted "
    "WHERE f.month = counted.month AND counted.n <> 0"
)


async def follow_into_unbegun_months(
    session: AsyncSession, member_ids: Sequence[uuid.UUID], today: date
) -> None:
    """The bills of months not yet begun, brought to these members' branch, status and amount
    in the copy (see above); nothing to do, and one cheap look, while no cycle opened early."""
    if not member_ids:
        return
    this_month = today.replace(day=1)
    early = await session.scalar(
        text("SELECT EXISTS (SELECT 1 FROM fee_cycles WHERE month > :this)"), {"this": this_month}
    )
    if early:
        await session.execute(
            _FOLLOW_INTO_UNBEGUN_MONTHS, {"ids": list(member_ids), "this": this_month}
        )


async def generate_bills(session: AsyncSession, month: date, chunk_no: int) -> ChunkDone | None:
    """The bills of one chunk, once: members active with a fee profile, copied before the month
    began (who joins or transfers in mid-month is billed from the next cycle). Returns how many
    bills were written and where the cycle stands; None for a chunk already done."""
    branch_ids = await session.scalar(
        text(
            "SELECT branch_ids FROM fee_cycle_chunks WHERE month = :month AND chunk_no = :n "
            "AND done_at IS NULL FOR UPDATE"
        ),
        {"month": month, "n": chunk_no},
    )
    if branch_ids is None:
        return None  # done already: a redelivery after the commit and before the ack
    made = (
        await session.execute(
            text(
                "WITH made AS ("  # noqa: S608 (constants and `billable`'s SQL only)
                "  INSERT INTO bills (member_id, branch_id, month, amount_fen) "
                "  SELECT m.member_id, m.branch_id, :month, m.monthly_fee_fen "
                "  FROM fee_members m "
                f"  WHERE m.branch_id = ANY(:branches) AND {billable(':began')} "
                "  ON CONFLICT (member_id, month) DO NOTHING "
                "  RETURNING branch_id, amount_fen"
                ") SELECT branch_id, count(*) AS bills, sum(amount_fen) AS due_fen "
                "FROM made GROUP BY branch_id ORDER BY branch_id"
            ),
            # The instant as a value: as SQL over the month's parameter it was worked out again
            # for every member under a generic plan (1.8x the lower bound instead of 1.4x).
            {
                "month": month,
                "branches": list(branch_ids),
                "began": datetime.combine(month, time(), BEIJING),
            },
        )
    ).all()
    written = int(sum(row.bills for row in made))
    await session.execute(
        text(
            "UPDATE fee_cycle_chunks SET done_at = now(), bills = :bills "
            "WHERE month = :month AND chunk_no = :n"
        ),
        {"month": month, "n": chunk_no, "bills": written},
    )
    cycle = (
        await session.execute(
            text(
                "UPDATE fee_cycles SET chunks_done = chunks_done + 1, bills = bills + :bills, "
                "finished_at = CASE WHEN chunks_done + 1 = chunks_total THEN now() END "
                "WHERE month = :month RETURNING *"
            ),
            {"month": month, "bills": written},
        )
    ).one()
    if made:
        await record_event(
            session,
            BillsGenerated(
                month=label(month),
                chunk_no=chunk_no,
                branches=[
                    BranchBills(branch_id=row.branch_id, bills=row.bills, due_fen=row.due_fen)
                    for row in made
                ],
            ),
            PRODUCER,
        )
    return ChunkDone(written, _state(cycle))
