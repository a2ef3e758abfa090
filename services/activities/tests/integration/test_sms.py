"""Transfer steps also reach the member by SMS: a command in the same transaction as the inbox
notice, the number looked up when sent, a refusal raised for the bus to retry and dead-letter,
a redelivery sent once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from activities.commands import SendSms
from activities.handlers import sms_sender
from activities.settings import ActivitiesSettings
from activities.sms import PhoneBook, RecordingSms, SmsFailed
from shared.events import Envelope, TransferRequested, parse_event
from shared.inbox import with_inbox
from shared.process import resources_of

from .conftest import Tree, new_members, notify

Db = Callable[..., Awaitable[list[Any]]]


class Phones(PhoneBook):
    """The members service's answer, without the members service."""

    def __init__(self, numbers: dict[uuid.UUID, str]) -> None:
        self.numbers = numbers

    async def phone_of(self, member_id: uuid.UUID | None, org_id: uuid.UUID | None) -> str | None:
        return self.numbers.get(member_id or org_id)  # type: ignore[arg-type]


async def sms_commands(db: Db, members: list[uuid.UUID]) -> list[Envelope]:
    """The SMS commands the outbox holds for these members (other tests write others)."""
    rows = await db(
        "SELECT envelope FROM outbox WHERE type = :t "
        "AND envelope->'data'->>'member_id' = ANY(:members)",
        t=SendSms.type,
        members=[str(m) for m in members],
    )
    return [
        Envelope.model_validate(
            r.envelope if isinstance(r.envelope, dict) else json.loads(r.envelope)
        )
        for r in rows
    ]


async def test_a_transfer_request_is_texted_to_the_member_once(
    settings: ActivitiesSettings, tree: Tree, db: Db, tmp_path: Path
) -> None:
    [mover, without_phone] = await new_members(settings, tree.branch_a, 2)
    for member in (mover, without_phone):
        await notify(
            settings,
            TransferRequested(
                transfer_id=uuid.uuid4(),
                member_id=member,
                from_branch_id=tree.branch_a,
                to_branch_id=tree.branch_b,
                due_by=date(2027, 1, 8),
            ),
        )
    commands = await sms_commands(db, [mover, without_phone])
    # To the member only: the branches' admins read their inbox.
    assert sorted(c.data["member_id"] for c in commands) == sorted([str(mover), str(without_phone)])
    assert "phone" not in json.dumps([c.data for c in commands])

    record = RecordingSms(tmp_path / "sent.jsonl")
    phones = Phones({mover: "13800138001"})
    async with resources_of(settings) as resources:
        handler = with_inbox(
            resources.sessions, "activities.sms", sms_sender(settings, record, phones)
        )
        for envelope in commands + commands:  # each delivered twice
            await handler(parse_event(envelope), envelope)

        [sent] = [json.loads(line) for line in record.path.read_text().splitlines()]
        assert sent["phone"] == "13800138001"
        assert sent["text"].startswith("【智慧团建】组织关系转接申请已提交：")

        # A provider that refuses raises: the bus retries the message, then dead-letters it.
        refusing = with_inbox(
            resources.sessions,
            "activities.sms-refused",
            sms_sender(settings, RecordingSms(tmp_path / "x", failing=True), phones),
        )
        mover_command = next(c for c in commands if c.data["member_id"] == str(mover))
        with pytest.raises(SmsFailed):
            await refusing(parse_event(mover_command), mover_command)
        # Not marked done: the retry sends it.
        [seen] = await db(
            "SELECT count(*) AS n FROM inbox WHERE consumer = 'activities.sms-refused'"
        )
        assert seen.n == 0
