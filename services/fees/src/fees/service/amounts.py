"""Recomputing every profile's monthly amount when a new rate table comes into force
(`zhtj-fees recompute-amounts`), so that the month start reads amounts and never decrypts.

Batched by member id, one short transaction a batch, so the API keeps serving profiles
meanwhile. Resumable without a bookmark: a recomputed profile names the table in force, and
a run only reads profiles that name another, so a run stopped anywhere is finished by the next.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fees.domain.rates import SALARIED, FeeRuleError, RateTable
from fees.rules import FeeRules
from shared.audit import audit
from shared.caller import OPERATOR_CALLER
from shared.logging import get_logger

log = get_logger(__name__)
BATCH = 2000


@dataclass
class Recomputation:
    table: str
    checked: int = 0
    changed: int = 0
    # Profiles the table in force cannot bill (a category it does not have), left as they were
    # for an admin to correct: member id -> the rule's code.
    refused: dict[uuid.UUID, str] = field(default_factory=dict)


def _amount(rules: FeeRules, table: RateTable, row: Any) -> int:
    """The profile's amount by `table`; only a salary is opened, in memory, never kept."""
    income = None
    if row.category == SALARIED and row.income_sealed is not None:
        income = int(rules.income_sealer.open(row.income_sealed, row.member_id.bytes))
    return table.monthly_fen(row.category, income)


async def _recompute_batch(
    session: AsyncSession,
    rules: FeeRules,
    table: RateTable,
    after: uuid.UUID | None,
    done: Recomputation,
) -> uuid.UUID | None:
    """One batch after `after`; the last member id it read, None when none were left."""
    rows = list(
        await session.execute(
            text(
                "SELECT member_id, category, income_sealed, monthly_fee_fen FROM fee_profiles "
                "WHERE rate_table <> :table AND (CAST(:after AS uuid) IS NULL OR member_id > :after) "
                "ORDER BY member_id LIMIT :n FOR UPDATE"
            ),
            {"table": table.name, "after": after, "n": BATCH},
        )
    )
    if not rows:
        return None
    ids, amounts = [], []
    for row in rows:
        try:
            amount = _amount(rules, table, row)
        except FeeRuleError as refused:
            done.refused[row.member_id] = refused.code
            continue
        ids.append(row.member_id)
        amounts.append(amount)
        done.changed += amount != row.monthly_fee_fen
    # The amount beside the member too (fees.db.FeeMember), which the month start bills.
    await session.execute(
        text(
            "WITH profiles AS ("
            "  UPDATE fee_profiles p SET monthly_fee_fen = v.amount, rate_table = :table, "
            "  updated_at = now() FROM unnest(CAST(:ids AS uuid[]), CAST(:amounts AS integer[])) "
            "  AS v(member_id, amount) WHERE p.member_id = v.member_id "
            "  RETURNING p.member_id, p.monthly_fee_fen"
            ") UPDATE fee_members m SET monthly_fee_fen = profiles.monthly_fee_fen "
            "FROM profiles WHERE m.member_id = profiles.member_id"
        ),
        {"table": table.name, "ids": ids, "amounts": amounts},
    )
    done.checked += len(rows)
    last: uuid.UUID = rows[-1].member_id
    return last


async def recompute_amounts(
    sessions: async_sessionmaker[AsyncSession],
    rules: FeeRules,
    on: date,
    progress: Callable[[Recomputation], None] = lambda _: None,
) -> Recomputation:
    """Every profile not yet on the table in force on `on`, recomputed by it, batch by batch."""
    table = rules.schedule.in_force(on)
    done = Recomputation(table.name)
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session, session.begin():
            after = await _recompute_batch(session, rules, table, after, done)
            if after is None:
                await audit(
                    session, OPERATOR_CALLER, "fee.amounts_recomputed", "rate_table", table.name
                )
                break
        log.info(
            "fee_amounts_recomputing",
            table=table.name,
            checked=done.checked,
            changed=done.changed,
            refused=len(done.refused),
        )
        progress(done)
    return done
