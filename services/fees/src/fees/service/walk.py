"""The walk down a remittance (`zhtj-fees trace <remittance-id>`): the remittance, the child
remittances it carries, theirs, down to every payment, from the database, for an operator
without a tracing dashboard. Two statements however deep the tree: one recursive query for the
remittances (tens of thousands for a province at most, held in memory), one for their payments
(a million for a province), streamed from a server-side cursor in the order the tree is
printed, so the walk holds one payment at a time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fees.domain.months import label
from shared.calendar import BEIJING
from shared.problems import Problem
from shared.telemetry import trace_id_in

REMITTANCES_SQL = """
WITH RECURSIVE walk AS (
  SELECT r.*, 0 AS depth FROM remittances r WHERE r.id = :id
  UNION ALL
  SELECT c.*, w.depth + 1 FROM remittances c JOIN walk w ON c.onward_id = w.id
)
SELECT w.*, o.name AS from_name, p.name AS to_name FROM walk w
LEFT JOIN org_replica o ON o.id = w.from_org_id
LEFT JOIN org_replica p ON p.id = w.to_org_id
ORDER BY w.depth, o.name, w.id
"""
# The payments of the given remittances, in the order of the ids given (the tree's print order).
PAYMENTS_SQL = """
SELECT b.remittance_id, p.id, p.bill_id, b.branch_id, p.amount_fen, p.channel, p.paid_at,
       p.trace_context
FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS o(id, n)
JOIN bills b ON b.remittance_id = o.id
JOIN payments p ON p.bill_id = b.id AND p.status = 'paid'
ORDER BY o.n, p.paid_at, p.id
"""


@dataclass
class Step:
    """A remittance of the walk, with the remittances it carries below it."""

    id: uuid.UUID
    amount_fen: int
    sender: str  # the sending organisation's name
    detail: str
    trace_id: str
    below: list[Step] = field(default_factory=list)


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _day(at: datetime | None) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if at else "-"


def _remittance_step(row: Any) -> Step:
    sender = row.from_name or str(row.from_org_id)
    to = row.to_name or ("outside the province" if row.to_org_id is None else str(row.to_org_id))
    return Step(
        row.id,
        row.amount_fen,
        sender,
        f"{sender} → {to}  {label(row.month)}  "
        f"{_yuan(row.amount_fen)} yuan (held {_yuan(row.held_fen)}, kept "
        f"{_yuan(row.retained_fen)})  {row.status}  sent {_day(row.sent_at)}  "
        f"received {_day(row.received_at)}  due {row.due_by}",
        trace_id_in(row.trace_context) or "-",
    )


async def remittance_tree(session: AsyncSession, remittance_id: uuid.UUID) -> Step:
    """The remittance with the remittances it carries, theirs, down to the branches' (their
    payments are streamed by `walk_lines`)."""
    rows = list(await session.execute(text(REMITTANCES_SQL), {"id": remittance_id}))
    if not rows:
        raise Problem(404, "fee.remittance_not_found", f"No remittance {remittance_id}.")
    steps = {row.id: _remittance_step(row) for row in rows}
    for row in rows[1:]:
        steps[row.onward_id].below.append(steps[row.id])
    return steps[remittance_id]


def _in_print_order(step: Step) -> Iterator[Step]:
    yield step
    for child in step.below:
        yield from _in_print_order(child)


def _payment_line(pay: Any, branch_name: str) -> str:
    return (
        f"payment {pay.id}  bill {pay.bill_id}  {branch_name}  "
        f"{_yuan(pay.amount_fen)} yuan  {pay.channel}  paid {_day(pay.paid_at)}  "
        f"trace {trace_id_in(pay.trace_context) or '-'}"
    )


async def walk_lines(session: AsyncSession, remittance_id: uuid.UUID) -> AsyncIterator[str]:
    """The walk as a tree, one line a remittance or payment, each ending with its trace id."""
    top = await remittance_tree(session, remittance_id)
    order = list(_in_print_order(top))
    stream = await session.stream(text(PAYMENTS_SQL), {"ids": [step.id for step in order]})
    payments = _Lookahead(stream.__aiter__())
    await payments.fill()

    async def lines(step: Step, indent: str, last: bool, top: bool) -> AsyncIterator[str]:
        branch = "" if top else ("└─ " if last else "├─ ")
        yield f"{indent}{branch}remittance {step.id}  {step.detail}  trace {step.trace_id}"
        inner = indent if top else indent + ("   " if last else "│  ")
        for i, child in enumerate(step.below):
            async for line in lines(child, inner, i == len(step.below) - 1, top=False):
                yield line
        while payments.head is not None and payments.head.remittance_id == step.id:
            pay = await payments.take()
            ends = payments.head is None or payments.head.remittance_id != step.id
            yield f"{inner}{'└─ ' if ends else '├─ '}{_payment_line(pay, step.sender)}"

    async for line in lines(top, "", True, True):
        yield line


class _Lookahead:
    """An async iterator with the next item in view (to draw the last child's corner)."""

    def __init__(self, source: AsyncIterator[Any]) -> None:
        self._source = source
        self.head: Any = None

    async def fill(self) -> None:
        self.head = await anext(self._source, None)

    async def take(self) -> Any:
        taken = self.head
        await self.fill()
        return taken
