"""The audit log: actor, action, target, time and trace id, written in the use case's transaction."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.caller import Caller
from shared.telemetry import current_trace_id


async def audit(
    session: AsyncSession, caller: Caller, action: str, target_type: str, target_id: object
) -> None:
    await session.execute(_AUDIT_ONCE, audit_values(caller, action, target_type, target_id))


def audit_insert_from(source: str) -> str:
    """SQL that writes one audit row for each row of `source` (a CTE of the same statement), from
    the parameters `audit_values` gives: for a write that is whole in one statement."""
    return (
        "INSERT INTO audit_log (actor_account_id, actor_role, action, target_type, target_id, "  # noqa: S608 (constants and a CTE's name)
        "trace_id) SELECT CAST(:audit_actor AS uuid), CAST(:audit_role AS text), "
        "CAST(:audit_action AS text), CAST(:audit_target_type AS text), "
        "CAST(:audit_target_id AS text), CAST(:audit_trace_id AS text) "
        f"FROM {source}"
    )


def audit_values(
    caller: Caller, action: str, target_type: str, target_id: object
) -> dict[str, object]:
    return {
        "audit_actor": caller.account_id,
        "audit_role": caller.role,
        "audit_action": action,
        "audit_target_type": target_type,
        "audit_target_id": str(target_id),
        "audit_trace_id": current_trace_id(),
    }


_AUDIT_ONCE = text(audit_insert_from("(VALUES (1)) AS once"))
