"""Event consumers of the activities service: its copies of the organisation tree and of members
(who is in an audience), the notices other services' events turn into (domain.notices), and the
fan-out work queue of published activities."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from activities.commands import FAN_OUT_QUEUE, SMS_QUEUE, FanOutNotices, SendSms
from activities.domain.notices import SMS_SOURCES, TEMPLATES
from activities.service import PRODUCER, mailings, notifications
from activities.settings import ActivitiesSettings
from activities.sms import PhoneBook, RecordingSms, SmsProvider, sms_text
from shared.batching import BatchingInbox
from shared.bus import Subscription
from shared.events import Envelope, Event
from shared.inbox import TransactionalHandler, with_inbox
from shared.logging import get_logger
from shared.member_copy import MemberCopy
from shared.orgtree import replica_handlers
from shared.outbox import record_events
from shared.process import Resources

log = get_logger(__name__)

ORG_TREE_QUEUE = "activities.org-tree"
MEMBERS_QUEUE = "activities.members"
NOTICES_QUEUE = "activities.notices"
MEMBER_COPY = MemberCopy(members="activity_members", waiting="activity_member_updates")


async def write_notices(session: AsyncSession, batch: Sequence[tuple[Event, Envelope]]) -> None:
    """The batch's notices in the inbox, and, for the sources that also go by SMS, one command
    a member notice on the SMS queue, in the same transaction."""
    notices = [(event, n) for event, _ in batch for n in TEMPLATES[event.type](event)]
    written = await notifications.write(session, [n for _, n in notices])
    texts = [
        SendSms(member_id=n.member_id, text=sms_text(n.title, n.body))
        for event, n in notices
        if event.type in SMS_SOURCES and n.member_id is not None
    ]
    await record_events(session, texts, PRODUCER)
    log.info("notices_written", events=len(batch), notifications=written, sms=len(texts))


def sms_sender(
    settings: ActivitiesSettings,
    provider: SmsProvider | None = None,
    phones: PhoneBook | None = None,
) -> TransactionalHandler:
    """Sends one SendSms; `provider` and `phones` stand in for the real ones in tests."""
    phones = phones or PhoneBook(
        settings.members_url, settings.org_url, settings.platform.internal_secret
    )
    sms = provider or RecordingSms(settings.resolved_sms_record_file(), settings.sms_failing)

    async def send(_: AsyncSession, command: Event, __: Envelope) -> None:
        assert isinstance(command, SendSms)
        to = str(command.member_id or command.org_id)
        phone = await phones.phone_of(command.member_id, command.org_id)
        if phone is None:
            log.info("sms_skipped", to=to, reason="no_phone")
            return
        await sms.send(phone, command.text)  # SmsFailed: retried, then dead-lettered
        log.info("sms_sent", to=to)

    return send


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
    settings = resources.settings
    assert isinstance(settings, ActivitiesSettings)
    notices = BatchingInbox(resources.sessions, NOTICES_QUEUE, write_notices, max_size=200)
    return [
        Subscription(ORG_TREE_QUEUE, replica_handlers(resources.sessions, ORG_TREE_QUEUE)),
        MEMBER_COPY.subscription(resources.sessions, MEMBERS_QUEUE),
        Subscription(NOTICES_QUEUE, dict.fromkeys(TEMPLATES, notices), prefetch=400),
        Subscription(
            SMS_QUEUE,
            {SendSms.type: with_inbox(resources.sessions, SMS_QUEUE, sms_sender(settings))},
            prefetch=8,
        ),
        # A chunk at a time: each is a few thousand rows in one statement.
        Subscription(
            FAN_OUT_QUEUE,
            {FanOutNotices.type: with_inbox(resources.sessions, FAN_OUT_QUEUE, fan_out)},
            prefetch=1,
        ),
    ]
