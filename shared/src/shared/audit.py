"""The audit log: actor, action, target, time and trace id, written in the use case's transaction."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.caller import Caller
from shared.telemetry import current_trace_id


async def audit(
    session: AsyncSession, caller: Caller, action: str, target_type: str, target_id: object
) -> None:
    await session.execute(
        text(
            "INSERT INTO audit_log (actor_account_id, actor_role, action, target_type, target_id, "
            "trace_id) VALUES (:actor, :role, :action, :target_type, :target_id, :trace_id)"
        ),
        {
            "actor": caller.account_id,
            "role": caller.role,
            "action": action,
            "target_type": target_type,
            "target_id": str(target_id),
            "trace_id": current_trace_id(),
        },
    )
