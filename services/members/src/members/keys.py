"""Key rotation for sealed ID numbers: re-encrypt every record, and every pending change request,
not yet under the active key."""

from __future__ import annotations

from sqlalchemy import func, select, text

from members.db import Member, Review
from members.protection import IdProtection
from shared.process import Resources

BATCH = 1000


async def rotate(resources: Resources, protection: IdProtection) -> int:
    """Batches of rows, each its own short transaction. Rows being edited are skipped at first
    (live work goes on) and waited for at the end, so the command ends only when nothing is left
    under an old key."""
    active_prefix = f"v1.{protection.sealer.active_key_id}."
    total = 0
    skip_locked = True
    while True:
        async with resources.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(Member.id, Member.id_number_sealed)
                    .where(~Member.id_number_sealed.startswith(active_prefix))
                    .limit(BATCH)
                    .with_for_update(skip_locked=skip_locked)
                )
            ).all()
            if rows:
                await session.execute(
                    text(
                        "UPDATE members AS m SET id_number_sealed = v.sealed "
                        "FROM unnest(CAST(:ids AS uuid[]), CAST(:sealed AS text[])) AS v(id, sealed) "
                        "WHERE m.id = v.id"
                    ),
                    {
                        "ids": [r.id for r in rows],
                        "sealed": [
                            protection.seal(
                                protection.open(r.id_number_sealed, r.id.bytes), r.id.bytes
                            )
                            for r in rows
                        ],
                    },
                )
                total += len(rows)
                continue
            left = (
                await session.execute(
                    select(func.count()).where(~Member.id_number_sealed.startswith(active_prefix))
                )
            ).scalar_one()
        if left == 0:
            break
        skip_locked = False  # only locked rows remain: wait for them
    return total + await _rotate_pending_requests(resources, protection, active_prefix)


async def _rotate_pending_requests(
    resources: Resources, protection: IdProtection, active_prefix: str
) -> int:
    """A change request for an ID number holds the new number sealed until it is decided."""
    async with resources.sessions() as session, session.begin():
        rows = (
            await session.execute(
                select(
                    Review.id,
                    Review.member_id,
                    Review.changes["id_number"]["sealed"].astext.label("sealed"),
                )
                .where(Review.status == "pending", Review.changes.has_key("id_number"))
                .with_for_update()
            )
        ).all()
        stale = [r for r in rows if r.sealed and not r.sealed.startswith(active_prefix)]
        for r in stale:
            resealed = protection.seal(
                protection.open(r.sealed, r.member_id.bytes), r.member_id.bytes
            )
            await session.execute(
                text(
                    "UPDATE reviews SET changes = jsonb_set(changes, '{id_number,sealed}', to_jsonb(CAST(:s AS text))) "
                    "WHERE id = :id"
                ),
                {"s": resealed, "id": r.id},
            )
    return len(stale)
