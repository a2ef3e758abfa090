"""The SMS channel of notifications: a provider interface, and the stand-in that records what it
would have sent (no real SMS gateway is reachable from here).

A message is a `SendSms` command on its own work queue: the phone number is looked up at the
moment of sending and never logged; a provider failure raises, so the bus retries it with its
back-off and, after the last try, dead-letters it (`zhtj-activities dlq list activities.sms`),
never losing it silently. A crash between the provider's acceptance and the inbox's commit
sends the message again: SMS is at least once.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Protocol

import httpx

from shared.caller import SYSTEM_CALLER, sign_caller

SIGNATURE = "【智慧团建】"


class SmsFailed(Exception):
    """The provider did not take the message; sending it again may work."""


class SmsProvider(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class RecordingSms:
    """Appends what it is asked to send to a file (JSON lines), or refuses while `failing`:
    the double tests and demos read."""

    def __init__(self, path: Path, failing: bool = False) -> None:
        self.path = path
        self.failing = failing

    async def send(self, phone: str, text: str) -> None:
        if self.failing:
            raise SmsFailed("the recording provider is set to fail")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"phone": phone, "text": text}, ensure_ascii=False) + "\n")


class PhoneBook:
    """The phone number a message goes to, asked when it is sent: a member's of the members
    service, an organisation leader's of the org service."""

    def __init__(self, members_url: str, org_url: str, secret: str) -> None:
        self.members_url = members_url.rstrip("/")
        self.org_url = org_url.rstrip("/")
        self.secret = secret

    async def phone_of(self, member_id: uuid.UUID | None, org_id: uuid.UUID | None) -> str | None:
        url = (
            f"{self.members_url}/internal/members/{member_id}/contact"
            if member_id is not None
            else f"{self.org_url}/internal/orgs/{org_id}/contact"
        )
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url, headers=sign_caller(SYSTEM_CALLER, self.secret))
        if response.status_code == 404:
            return None
        response.raise_for_status()  # anything else: retried by the bus
        phone = response.json()["phone"]
        return str(phone) if phone else None


def sms_text(title: str, body: str) -> str:
    return f"{SIGNATURE}{title}：{body}"
