"""A notice to a whole audience (an activity's invitation, an announcement), written after the
answer by the fan-out work queue.

`start` counts the audience by branch from the service's event-fed copies, cuts it into chunks
of about `FANOUT_CHUNK_MEMBERS` members (shared.chunks), and puts one `FanOutNotices` command a
chunk in the outbox, in the caller's transaction. `fan_out` writes one chunk with one INSERT …
SELECT, once: a redelivered chunk finds itself done. Chunk 0, when asked for, writes to every
organisation of the audience (their admins' inbox) instead of to members.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from activities.commands import FanOutNotices, SendSms
from activities.domain.activity import FANOUT_CHUNK_MEMBERS
from activities.service import PRODUCER
from activities.sms import sms_text
from shared.chunks import chunks_of
from shared.outbox import record_events

TO_ORGANISATIONS = 0  # the chunk number that writes to the audience's organisations


@dataclass(frozen=True)
class Mailing:
    kind: str
    title: str
    body: str
    link: dict[str, str]
    audience: Sequence[uuid.UUID]  # organisations whose subtrees it reaches
    to_organisations: bool = False  # also every organisation's admins
    sms_to_organisations: bool = False  # and by SMS to each organisation's leader


async def start(session: AsyncSession, mailing: Mailing) -> uuid.UUID:
    branches = [
        (row.branch_id, row.members)
        for row in await session.execute(
            text(
                "SELECT m.branch_id, count(*) AS members FROM activity_members m "
                "JOIN org_replica o ON o.id = m.branch_id "
                "WHERE m.status = 'active' AND o.path && CAST(:audience AS uuid[]) "
                "GROUP BY m.branch_id ORDER BY m.branch_id"
            ),
            {"audience": list(mailing.audience)},
        )
    ]
    chunks = dict(enumerate(chunks_of(branches, FANOUT_CHUNK_MEMBERS), start=1))
    if mailing.to_organisations:
        chunks[TO_ORGANISATIONS] = []
    mailing_id = uuid.uuid4()
    await session.execute(
        text(
            "INSERT INTO mailings (id, kind, title, body, link, audience_org_ids, "
            "sms_to_organisations, chunks_total, finished_at) VALUES (:id, :kind, :title, :body, "
            "CAST(:link AS jsonb), :audience, :sms, :chunks, CASE WHEN :chunks = 0 THEN now() END)"
        ),
        {
            "id": mailing_id,
            "kind": mailing.kind,
            "title": mailing.title,
            "body": mailing.body,
            "link": json.dumps(mailing.link),
            "audience": list(mailing.audience),
            "sms": mailing.sms_to_organisations,
            "chunks": len(chunks),
        },
    )
    if chunks:
        await session.execute(
            text(
                "INSERT INTO mailing_chunks (mailing_id, chunk_no, branch_ids) "
                "VALUES (:m, :n, :branches)"
            ),
            [{"m": mailing_id, "n": n, "branches": chunk} for n, chunk in chunks.items()],
        )
        await record_events(
            session,
            [FanOutNotices(mailing_id=mailing_id, chunk_no=n) for n in chunks],
            PRODUCER,
        )
    return mailing_id


@dataclass(frozen=True)
class ChunkDone:
    notified: int
    chunks_done: int
    chunks_total: int


# Every active member of the chunk's branches; or, for chunk 0, the audience's active
# organisations (their admins' inbox). Each answers how many it wrote.
WRITE_TO_MEMBERS = (
    "WITH written AS (INSERT INTO notifications (recipient_id, recipient_kind, kind, title, "
    "body, link) SELECT member_id, 'member', :kind, :title, :body, CAST(:link AS jsonb) "
    "FROM activity_members WHERE branch_id = ANY(:branches) AND status = 'active' "
    "RETURNING 1) SELECT count(*) FROM written"
)
WRITE_TO_ORGANISATIONS = (
    "WITH written AS (INSERT INTO notifications (recipient_id, recipient_kind, kind, title, "
    "body, link) SELECT id, 'org', :kind, :title, :body, CAST(:link AS jsonb) "
    "FROM org_replica WHERE path && CAST(:audience AS uuid[]) AND status = 'active' "
    "RETURNING 1) SELECT count(*) FROM written"
)
ORGANISATIONS_OF = (
    "SELECT id FROM org_replica WHERE path && CAST(:audience AS uuid[]) AND status = 'active'"
)


async def fan_out(session: AsyncSession, mailing_id: uuid.UUID, chunk_no: int) -> ChunkDone | None:
    """One chunk's notifications, once; None for a chunk done already (a redelivery)."""
    found = (
        await session.execute(
            text(
                "SELECT c.branch_ids, m.kind, m.title, m.body, CAST(m.link AS text) AS link, "
                "m.audience_org_ids, m.sms_to_organisations FROM mailing_chunks c JOIN mailings m ON m.id = c.mailing_id "
                "WHERE c.mailing_id = :m AND c.chunk_no = :n AND c.done_at IS NULL "
                "FOR UPDATE OF c"
            ),
            {"m": mailing_id, "n": chunk_no},
        )
    ).first()
    if found is None:
        return None
    write = WRITE_TO_ORGANISATIONS if chunk_no == TO_ORGANISATIONS else WRITE_TO_MEMBERS
    notified = await session.scalar(
        text(write),
        {
            "kind": found.kind,
            "title": found.title,
            "body": found.body,
            "link": found.link,
            "branches": list(found.branch_ids),
            "audience": list(found.audience_org_ids),
        },
    )
    if chunk_no == TO_ORGANISATIONS and found.sms_to_organisations:
        # One SMS command an organisation, in this transaction: written once with the chunk.
        leaders = await session.scalars(
            text(ORGANISATIONS_OF), {"audience": list(found.audience_org_ids)}
        )
        texted = sms_text(found.title, found.body)
        await record_events(
            session, [SendSms(org_id=org, text=texted) for org in leaders], PRODUCER
        )
    await session.execute(
        text(
            "UPDATE mailing_chunks SET done_at = now(), notified = :n "
            "WHERE mailing_id = :m AND chunk_no = :c"
        ),
        {"m": mailing_id, "c": chunk_no, "n": notified},
    )
    progress = (
        await session.execute(
            text(
                "UPDATE mailings SET chunks_done = chunks_done + 1, notified = notified + :n, "
                "finished_at = CASE WHEN chunks_done + 1 = chunks_total THEN now() END "
                "WHERE id = :m RETURNING chunks_done, chunks_total"
            ),
            {"m": mailing_id, "n": notified},
        )
    ).one()
    return ChunkDone(int(notified or 0), progress.chunks_done, progress.chunks_total)
