"""The remittance chain (团费上缴): each organisation sends what it holds of a month, less the
share it keeps, to its parent; the root passes its remainder on outside the province.

What a remittance carries is recorded (a branch's paid bills, a higher organisation's received
remittances), so every fen can be followed from the province down to each payment: in the data
(`bills.remittance_id`, `remittances.onward_id`) and in the traces, where a remittance's span
links to the spans of the payments or remittances it carries.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanContext, Tracer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fees.domain.months import label
from fees.domain.retention import split
from fees.rules import FeeRules
from fees.service import PRODUCER
from shared.assessment import CHILD, IN_SUBTREE, subtree_params
from shared.audit import audit
from shared.calendar import BEIJING, WorkingDayCalendar
from shared.caller import Caller
from shared.events import FeeRemitted, RemittanceReceived
from shared.orgtree import OrgNode, is_admin_over, replica_node, replica_node_in_scope
from shared.outbox import record_event
from shared.problems import Problem
from shared.telemetry import extract_context, inject_context, trace_id_in

tracer = trace.get_tracer("fees.remittances")
BRANCH_DUE_WORKING_DAYS = 5
HIGHER_DUE_WORKING_DAYS = 10
MAX_LINKS = 128  # links a span keeps (OpenTelemetry's default limit)


def due_working_days(org_type: str) -> int:
    """The working days a sender of this type has to remit what it received (DOMAIN.md §7)."""
    return BRANCH_DUE_WORKING_DAYS if org_type == "branch" else HIGHER_DUE_WORKING_DAYS


@contextmanager
def remit_span(
    tracer: Tracer, carried: Sequence[SpanContext], attributes: dict[str, str | int]
) -> Iterator[Span]:
    """The remittance's span, linked to the trace of everything it carries: a county's
    remittance carries one per branch, a branch's one payment per paying member, often more
    than a span keeps. The first `MAX_LINKS` are on the span; the rest on child spans
    `fee.remit.carries`, `MAX_LINKS` each, so that the walk down from the province reaches every
    payment."""
    links = [Link(context) for context in carried if context.is_valid]
    with tracer.start_as_current_span(
        "fee.remit", links=links[:MAX_LINKS], attributes=attributes
    ) as span:
        for start in range(MAX_LINKS, len(links), MAX_LINKS):
            tracer.start_span(
                "fee.remit.carries",
                links=links[start : start + MAX_LINKS],
                attributes={"fee.remittance_id": attributes["fee.remittance_id"]},
            ).end()
        yield span


@dataclass(frozen=True)
class Remittance:
    id: uuid.UUID
    from_org_id: uuid.UUID
    to_org_id: uuid.UUID | None
    month: date
    held_fen: int
    retained_fen: int
    amount_fen: int
    status: str
    due_by: date
    trace_id: str | None
    sent_at: datetime


def _remittance(row: Any) -> Remittance:
    return Remittance(
        row.id,
        row.from_org_id,
        row.to_org_id,
        row.month,
        row.held_fen,
        row.retained_fen,
        row.amount_fen,
        row.status,
        row.due_by,
        trace_id_in(row.trace_context),
        row.sent_at,
    )


async def _carried(
    session: AsyncSession, org_id: uuid.UUID, month: date, branch: bool
) -> list[Any]:
    """What the organisation holds of the month and has not remitted, locked: a branch's paid
    bills (with the trace of their payment), a higher organisation's received remittances."""
    if branch:
        query = (
            "SELECT b.id, b.amount_fen, b.paid_at AS received_at, p.trace_context FROM bills b "
            "JOIN payments p ON p.bill_id = b.id AND p.status = 'paid' "
            "WHERE b.branch_id = :org AND b.month = :month AND b.status = 'paid' "
            "AND b.remittance_id IS NULL FOR UPDATE OF b"
        )
    else:
        query = (
            "SELECT id, amount_fen, received_at, trace_context FROM remittances "
            "WHERE to_org_id = :org AND month = :month AND status = 'received' "
            "AND onward_id IS NULL FOR UPDATE"
        )
    return list(await session.execute(text(query), {"org": org_id, "month": month}))


async def remit(
    session: AsyncSession,
    caller: Caller,
    rules: FeeRules,
    calendar: WorkingDayCalendar,
    org_id: uuid.UUID,
    month: date,
) -> Remittance:
    org = await replica_node_in_scope(session, caller, org_id)
    # One remittance at a time per organisation and month: two at once would carry the same.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"remit:{org_id}:{month}"},
    )
    waiting = await session.scalar(
        text(
            "SELECT count(*) FROM remittances WHERE to_org_id = :org AND month = :month "
            "AND status = 'sent'"
        ),
        {"org": org_id, "month": month},
    )
    if waiting:
        raise Problem(
            409,
            "fee.unreceived_child_remittance",
            f"{waiting} remittance(s) sent to this organisation are not confirmed as received; "
            "confirm them first, only received money goes on.",
            unreceived=int(waiting),
        )
    branch = org.org_type == "branch"
    carried = await _carried(session, org_id, month, branch)
    held = sum(int(c.amount_fen) for c in carried)
    if held == 0:
        raise Problem(
            409, "fee.nothing_to_remit", f"Nothing of {label(month)} is held here and not remitted."
        )
    parts = split(held, rules.retention.get(org.org_type, rules.retention["committee"]))
    received_on = min(c.received_at for c in carried).astimezone(BEIJING).date()
    due_by = calendar.add_working_days(received_on, due_working_days(org.org_type))
    remittance_id = uuid.uuid4()
    with remit_span(
        tracer,
        [
            trace.get_current_span(extract_context(c.trace_context)).get_span_context()
            for c in carried
        ],
        {
            "fee.remittance_id": str(remittance_id),
            "fee.month": label(month),
            "fee.carried": len(carried),
            "fee.amount_fen": parts.remitted_fen,
        },
    ):
        row = (
            await session.execute(
                text(
                    "INSERT INTO remittances (id, from_org_id, to_org_id, month, held_fen, "
                    "retained_fen, amount_fen, status, due_by, trace_context) VALUES (:id, :from, "
                    ":to, :month, :held, :retained, :amount, :status, :due, CAST(:trace AS jsonb)) "
                    "RETURNING *"
                ),
                {
                    "id": remittance_id,
                    "from": org_id,
                    "to": org.parent_id,
                    "month": month,
                    "held": held,
                    "retained": parts.retained_fen,
                    "amount": parts.remitted_fen,
                    "status": "sent" if org.parent_id else "passed_on",
                    "due": due_by,
                    "trace": json.dumps(inject_context()),
                },
            )
        ).one()
        table = "bills SET remittance_id" if branch else "remittances SET onward_id"
        await session.execute(
            text(f"UPDATE {table} = :r WHERE id = ANY(:ids)"),
            {"r": remittance_id, "ids": [c.id for c in carried]},
        )
        await record_event(
            session,
            FeeRemitted(
                remittance_id=remittance_id,
                from_org_id=org_id,
                to_org_id=org.parent_id,
                month=label(month),
                amount_fen=parts.remitted_fen,
                retained_fen=parts.retained_fen,
                due_by=due_by,
            ),
            PRODUCER,
        )
    await audit(session, caller, "fee.remitted", "remittance", remittance_id)
    return _remittance(row)


async def receive(session: AsyncSession, caller: Caller, remittance_id: uuid.UUID) -> Remittance:
    """The receiving organisation confirms the money arrived; only then does it go on."""
    row = (
        await session.execute(
            text("SELECT * FROM remittances WHERE id = :id FOR UPDATE"), {"id": remittance_id}
        )
    ).first()
    receiver = await replica_node(session, row.to_org_id) if row and row.to_org_id else None
    if row is None or receiver is None or not is_admin_over(caller, receiver.path):
        raise Problem(404, "fee.remittance_not_found", "No remittance to you has this id.")
    if row.status != "sent":
        raise Problem(409, "fee.already_received", "This remittance is confirmed already.")
    row = (
        await session.execute(
            text(
                "UPDATE remittances SET status = 'received', received_at = now() WHERE id = :id "
                "RETURNING *"
            ),
            {"id": remittance_id},
        )
    ).one()
    await record_event(
        session,
        RemittanceReceived(
            remittance_id=row.id,
            from_org_id=row.from_org_id,
            to_org_id=row.to_org_id,
            month=label(row.month),
            amount_fen=row.amount_fen,
        ),
        PRODUCER,
    )
    await audit(session, caller, "fee.remittance_received", "remittance", row.id)
    return _remittance(row)


@dataclass(frozen=True)
class Conservation:
    paid_fen: int
    retained_fen: int
    passed_on_fen: int
    held_fen: int
    # Remittances whose recorded amount is not what they carry, with their sender.
    broken: list[tuple[uuid.UUID, uuid.UUID]]

    @property
    def holds(self) -> bool:
        return not self.broken and self.paid_fen == (
            self.retained_fen + self.passed_on_fen + self.held_fen
        )


CONSERVATION_SQL = """
SELECT
  (SELECT coalesce(sum(amount_fen), 0) FROM bills WHERE month = :m AND status = 'paid') AS paid,
  (SELECT coalesce(sum(retained_fen), 0) FROM remittances WHERE month = :m) AS retained,
  (SELECT coalesce(sum(amount_fen), 0) FROM remittances WHERE month = :m
     AND status = 'passed_on') AS passed_on,
  (SELECT coalesce(sum(amount_fen), 0) FROM bills WHERE month = :m AND status = 'paid'
     AND remittance_id IS NULL)
  + (SELECT coalesce(sum(amount_fen), 0) FROM remittances WHERE month = :m
     AND status IN ('sent', 'received') AND onward_id IS NULL) AS held
"""
BROKEN_SQL = """
SELECT r.id, r.from_org_id FROM remittances r
WHERE r.month = :m AND r.held_fen <>
  coalesce((SELECT sum(b.amount_fen) FROM bills b WHERE b.remittance_id = r.id), 0)
  + coalesce((SELECT sum(c.amount_fen) FROM remittances c WHERE c.onward_id = r.id), 0)
"""


async def conservation(session: AsyncSession, month: date) -> Conservation:
    """For a month: paid = Σ retained + passed on + still held, to the fen, and every remittance
    carrying exactly what it says (one that does not names its sender)."""
    totals = (await session.execute(text(CONSERVATION_SQL), {"m": month})).one()
    broken = [(r.id, r.from_org_id) for r in await session.execute(text(BROKEN_SQL), {"m": month})]
    return Conservation(
        int(totals.paid), int(totals.retained), int(totals.passed_on), int(totals.held), broken
    )


async def remittances_of(
    session: AsyncSession,
    org_id: uuid.UUID,
    *,
    incoming: bool,
    month: date | None,
    late_only: bool,
    after: tuple[str, uuid.UUID] | None,
    limit: int,
) -> list[Remittance]:
    """An organisation's remittances, sent (out) or to it (in), newest first; `late_only`: sent
    after their due date (Beijing days)."""
    rows = await session.execute(
        text(
            "SELECT * FROM remittances WHERE "
            # Both indexes (remittances_to, remittances_from) serve this as a bitmap OR.
            "((CAST(:incoming AS boolean) AND to_org_id = :org) "
            "OR (NOT CAST(:incoming AS boolean) AND from_org_id = :org)) "
            "AND (CAST(:month AS date) IS NULL OR month = :month) "
            "AND (NOT :late OR (sent_at AT TIME ZONE 'Asia/Shanghai')::date > due_by) "
            "AND (CAST(:after_at AS text) IS NULL OR (sent_at, id) < "
            "(CAST(:after_at AS timestamptz), :after_id)) "
            "ORDER BY sent_at DESC, id DESC LIMIT :limit"
        ),
        {
            "org": org_id,
            "incoming": incoming,
            "month": month,
            "late": late_only,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [_remittance(row) for row in rows]


@dataclass(frozen=True)
class Carried:
    """One thing a remittance carries: a paid bill (branch) or a child remittance (above)."""

    kind: str  # "bill" | "remittance"
    id: uuid.UUID
    org_id: uuid.UUID  # the bill's branch, or the child remittance's sender
    amount_fen: int


async def remittance_with_includes(
    session: AsyncSession, caller: Caller, remittance_id: uuid.UUID
) -> tuple[Remittance, list[Carried]]:
    """A remittance for an admin over either end, with what it carries."""
    row = (
        await session.execute(
            text("SELECT * FROM remittances WHERE id = :id"), {"id": remittance_id}
        )
    ).first()
    ends = [row.from_org_id, row.to_org_id] if row else []
    nodes = [await replica_node(session, org) for org in ends if org is not None]
    if row is None or not any(n is not None and is_admin_over(caller, n.path) for n in nodes):
        raise Problem(
            404, "fee.remittance_not_found", "No such remittance, or not one you may see."
        )
    carried = [
        Carried("bill", r.id, r.branch_id, r.amount_fen)
        for r in await session.execute(
            text(
                "SELECT id, branch_id, amount_fen FROM bills WHERE remittance_id = :id ORDER BY id"
            ),
            {"id": remittance_id},
        )
    ] + [
        Carried("remittance", r.id, r.from_org_id, r.amount_fen)
        for r in await session.execute(
            text(
                "SELECT id, from_org_id, amount_fen FROM remittances WHERE onward_id = :id "
                "ORDER BY id"
            ),
            {"id": remittance_id},
        )
    ]
    return _remittance(row), carried


@dataclass(frozen=True)
class Summary:
    due_fen: int
    paid_fen: int
    remitted_fen: int
    received_fen: int
    retained_fen: int
    overdue_remittances: int

    @property
    def collection_rate(self) -> float:
        return round(self.paid_fen / self.due_fen, 4) if self.due_fen else 0.0


SUMMARY_SQL = """
WITH subtree AS (SELECT id FROM org_replica WHERE path @> ARRAY[CAST(:org AS uuid)])
SELECT
  (SELECT coalesce(sum(amount_fen), 0) FROM bills
     WHERE month = :m AND status <> 'void' AND branch_id IN (SELECT id FROM subtree)) AS due,
  (SELECT coalesce(sum(amount_fen), 0) FROM bills
     WHERE month = :m AND status = 'paid' AND branch_id IN (SELECT id FROM subtree)) AS paid,
  (SELECT coalesce(sum(amount_fen), 0) FROM remittances
     WHERE month = :m AND from_org_id = :org) AS remitted,
  (SELECT coalesce(sum(amount_fen), 0) FROM remittances
     WHERE month = :m AND to_org_id = :org AND status = 'received') AS received,
  (SELECT coalesce(sum(retained_fen), 0) FROM remittances
     WHERE month = :m AND from_org_id IN (SELECT id FROM subtree)) AS retained,
  (SELECT count(*) FROM remittances
     WHERE month = :m AND from_org_id IN (SELECT id FROM subtree)
     AND (sent_at AT TIME ZONE 'Asia/Shanghai')::date > due_by) AS overdue
"""


async def summary(session: AsyncSession, org_id: uuid.UUID, month: date) -> Summary:
    """A subtree's dues of a month in one statement over the path index: what was due and paid
    below, what the organisation sent up and received, what the subtree kept, and how many of
    its remittances were late."""
    row = (await session.execute(text(SUMMARY_SQL), {"org": org_id, "m": month})).one()
    return Summary(
        int(row.due),
        int(row.paid),
        int(row.remitted),
        int(row.received),
        int(row.retained),
        int(row.overdue),
    )


@dataclass(frozen=True)
class ChildCollection:
    """A direct child's dues of a month over its own subtree."""

    org_id: uuid.UUID
    name: str
    due_fen: int
    paid_fen: int

    @property
    def collection_rate(self) -> float:
        return round(self.paid_fen / self.due_fen, 4) if self.due_fen else 0.0


async def collection_by_child(
    session: AsyncSession, org: OrgNode, month: date
) -> list[ChildCollection]:
    """Each direct child's dues of the month (due and paid over its subtree), by name, in one
    grouped statement: who pulls the collection rate down (收缴率 per organisation)."""
    params = subtree_params(org.path, month.year)
    rows = await session.execute(
        text(
            "SELECT c.id, c.name, f.due, f.paid FROM ("  # noqa: S608 (constant fragments)
            f"SELECT {CHILD} AS child, sum(bills.amount_fen) AS due, "
            "coalesce(sum(bills.amount_fen) FILTER (WHERE bills.status = 'paid'), 0) AS paid "
            "FROM bills JOIN org_replica b ON b.id = bills.branch_id "
            f"WHERE bills.month = :m AND bills.status <> 'void' AND {IN_SUBTREE} "
            "AND cardinality(b.path) > :depth "
            "GROUP BY 1) f JOIN org_replica c ON c.id = f.child ORDER BY c.name, c.id"
        ),
        {**params, "m": month},
    )
    return [ChildCollection(r.id, r.name, int(r.due), int(r.paid)) for r in rows]


async def collection_share(session: AsyncSession, org: OrgNode, year: int) -> Sequence[Any]:
    """The assessment's dues collection (团费收缴率): bills of the year's months paid over bills
    issued, per direct child of `org` (by the bill's branch)."""
    return list(
        await session.execute(
            text(
                f"SELECT {CHILD} AS child, count(*) FILTER (WHERE bills.status = 'paid') AS paid, "  # noqa: S608
                "count(*) AS issued FROM bills JOIN org_replica b ON b.id = bills.branch_id "
                "WHERE bills.month BETWEEN :first_day AND :last_day AND bills.status <> 'void' "
                f"AND {IN_SUBTREE} GROUP BY 1"
            ),
            subtree_params(org.path, year),
        )
    )


async def remittance_share(session: AsyncSession, org: OrgNode, year: int) -> Sequence[Any]:
    """The assessment's timely remittance (按时上缴率): remittances of the year's months sent by
    their due date (Beijing's day) over those sent, per direct child (by the sender)."""
    return list(
        await session.execute(
            text(
                f"SELECT {CHILD} AS child, count(*) FILTER (WHERE "  # noqa: S608
                "(r.sent_at AT TIME ZONE 'Asia/Shanghai')::date <= r.due_by) AS on_time, "
                "count(*) AS sent FROM remittances r JOIN org_replica b ON b.id = r.from_org_id "
                f"WHERE r.month BETWEEN :first_day AND :last_day AND {IN_SUBTREE} GROUP BY 1"
            ),
            subtree_params(org.path, year),
        )
    )


@dataclass(frozen=True)
class End:
    """One end of a remittance as its answer names it."""

    name: str
    org_type: str


async def org_ends(session: AsyncSession, remitted: Sequence[Remittance]) -> dict[uuid.UUID, End]:
    """Both ends of these remittances, from the copy of the tree: an admin reads the name of
    the parent it remits to, which the org service would not show it."""
    ids = {r.from_org_id for r in remitted} | {r.to_org_id for r in remitted if r.to_org_id}
    if not ids:
        return {}
    rows = await session.execute(
        text("SELECT id, name, org_type FROM org_replica WHERE id = ANY(:ids)"),
        {"ids": list(ids)},
    )
    return {row.id: End(row.name, row.org_type) for row in rows}
