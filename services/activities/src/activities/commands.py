"""Commands of the activities service's work queue (messages to do something, not facts): they
travel through the outbox like events, to a queue of their own."""

from __future__ import annotations

import uuid
from typing import ClassVar

from shared.events import Event, register

FAN_OUT_QUEUE = "activities.fan-out"


@register
class FanOutNotices(Event):
    """Write the notifications of one chunk of a mailing's audience (a few thousand members of
    whole branches, or the audience's organisations: one statement)."""

    type: ClassVar[str] = "activities.fan_out"
    mailing_id: uuid.UUID
    chunk_no: int


SMS_QUEUE = "activities.sms"


@register
class SendSms(Event):
    """Send one notice by SMS to a member, or to an organisation's leader. The phone number is
    looked up when it is sent (the members or org service's internal route), never carried in
    the message."""

    type: ClassVar[str] = "activities.send_sms"
    member_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    text: str
