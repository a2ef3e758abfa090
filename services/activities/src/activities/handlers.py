"""Event consumers of the activities service: its copies of the organisation tree and of members
(who is in an audience), the notices other services' events turn into (domain.notices), and the
fan-out work queue of published activities."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from activities.commands import FAN_OUT_QUEUE, FanOutNotices
from activities.domain.notices import TEMPLATES
from activities.service import mailings, notifications
from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.events import Envelope, Event
from shared.inbox import with_inbox
from shared.logging import get_logger
from shared.member_copy import MemberCopy
from shared.orgtree import replica_handlers
from shared.process import Resources

log = get_logger(__name__)

ORG_TREE_QUEUE = "activities.org-tree"
MEMBERS_QUEUE = "activities.members"
NOTICES_QUEUE = "activities.notices"
MEMBER_COPY = MemberCopy(members="activity_members", waiting="activity_member_updates")


async def write_notices(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    written = await notifications.write(
        session, [notice for event, _ in batch for notice in TEMPLATES[event.type](event)]
    )
    log.info("notices_written", events=len(batch), notifications=written)


async def fan_out(session: AsyncSession, command: Event, _: Envelope) -> None:
    assert isinstance(command, FanOutNotices)
    done = await mailings.fan_out(session, command.mailing_id, command.chunk_no)
    if done is None:
        log.info("fan_out_done_already", mailing=str(command.mailing_id), chunk=command.chunk_no)
        return
    # Progress on every chunk, for an operator following a large publish in the logs.
    log.info(
        "fan_out_chunk_written",
        mailing=str(command.mailing_id),
        chunk=command.chunk_no,
        notified=done.notified,
        chunks_done=done.chunks_done,
        chunks_total=done.chunks_total,
    )


def subscriptions(resources: Resources) -> list[Subscription]:
    notices = BatchingInbox(resources.sessions, NOTICES_QUEUE, write_notices, max_size=200)
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        MEMBER_COPY.subscription(resources.sessions, MEMBERS_QUEUE),
        Subscription(NOTICES_QUEUE, dict.fromkeys(TEMPLATES, notices), prefetch=400),
        # A chunk at a time: each is a few thousand rows in one statement.
        Subscription(
            FAN_OUT_QUEUE,
            {FanOutNotices.type: with_inbox(resources.sessions, FAN_OUT_QUEUE, fan_out)},
            prefetch=1,
        ),
    ]
