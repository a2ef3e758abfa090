"""Key rotation for sealed ID numbers: re-encrypt every record not yet under the active key."""

from __future__ import annotations

from sqlalchemy import select, text

from members.db import Member
from members.protection import IdProtection
from shared.app import Resources

BATCH = 1000


async def rotate(resources: Resources, protection: IdProtection) -> int:
    """Batches of rows, each batch its own short transaction (SKIP LOCKED: live edits go on)."""
    active_prefix = f"v1.{protection.sealer.active_key_id}."
    total = 0
    while True:
        async with resources.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(Member.id, Member.id_number_sealed)
                    .where(~Member.id_number_sealed.startswith(active_prefix))
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return total
            await session.execute(
                text(
                    "UPDATE members AS m SET id_number_sealed = v.sealed "
                    "FROM unnest(CAST(:ids AS uuid[]), CAST(:sealed AS text[])) AS v(id, sealed) "
                    "WHERE m.id = v.id"
                ),
                {
                    "ids": [r.id for r in rows],
                    "sealed": [
                        protection.seal(protection.open(r.id_number_sealed, r.id.bytes), r.id.bytes)
                        for r in rows
                    ],
                },
            )
            total += len(rows)
