"""The walk down a remittance (`zhtj-fees trace <remittance-id>`): the remittance, the child
remittances it carries, theirs, down to every payment, from the database, for an operator
without a tracing dashboard. Two statements however deep the tree: one recursive query for the
remittances, one for the payments of the branches' remittances."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
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
PAYMENTS_SQL = """
SELECT b.remittance_id, p.id, p.bill_id, b.branch_id, p.amount_fen, p.channel, p.paid_at,
       p.trace_context
FROM bills b JOIN payments p ON p.bill_id = b.id AND p.status = 'paid'
WHERE b.remittance_id = ANY(:ids)
ORDER BY p.paid_at, p.id
"""


@dataclass
class Step:
    """One line of the walk: a remittance or a payment, with what it carries below it."""

    kind: str  # "remittance" | "payment"
    id: uuid.UUID
    amount_fen: int
    detail: str
    trace_id: str
    below: list[Step] = field(default_factory=list)


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _day(at: datetime | None) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if at else "-"


def _remittance_step(row: Any) -> Step:
    to = row.to_name or ("outside the province" if row.to_org_id is None else str(row.to_org_id))
    return Step(
        "remittance",
        row.id,
        row.amount_fen,
        f"{row.from_name or row.from_org_id} → {to}  {label(row.month)}  "
        f"{_yuan(row.amount_fen)} yuan (held {_yuan(row.held_fen)}, kept "
        f"{_yuan(row.retained_fen)})  {row.status}  sent {_day(row.sent_at)}  "
        f"received {_day(row.received_at)}  due {row.due_by}",
        trace_id_in(row.trace_context) or "-",
    )


async def walk(session: AsyncSession, remittance_id: uuid.UUID) -> Step:
    """The remittance with everything it carries, down to the payments."""
    rows = list(await session.execute(text(REMITTANCES_SQL), {"id": remittance_id}))
    if not rows:
        raise Problem(404, "fee.remittance_not_found", f"No remittance {remittance_id}.")
    steps = {row.id: _remittance_step(row) for row in rows}
    for row in rows[1:]:
        steps[row.onward_id].below.append(steps[row.id])
    branch_names = {row.from_org_id: row.from_name for row in rows}
    for pay in await session.execute(text(PAYMENTS_SQL), {"ids": list(steps)}):
        steps[pay.remittance_id].below.append(
            Step(
                "payment",
                pay.id,
                pay.amount_fen,
                f"bill {pay.bill_id}  {branch_names.get(pay.branch_id) or pay.branch_id}  "
                f"{_yuan(pay.amount_fen)} yuan  {pay.channel}  paid {_day(pay.paid_at)}",
                trace_id_in(pay.trace_context) or "-",
            )
        )
    return steps[remittance_id]


def tree_lines(step: Step, indent: str = "", last: bool = True, top: bool = True) -> Iterator[str]:
    """The walk as a tree, one line a step, each ending with its trace id."""
    branch = "" if top else ("└─ " if last else "├─ ")
    yield f"{indent}{branch}{step.kind} {step.id}  {step.detail}  trace {step.trace_id}"
    inner = indent if top else indent + ("   " if last else "│  ")
    for i, child in enumerate(step.below):
        yield from tree_lines(child, inner, i == len(step.below) - 1, top=False)
