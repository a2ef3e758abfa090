"""Rules of founding and dissolving organisations (组织建设管理), as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from shared.calendar import WorkingDayCalendar

OrgType = Literal["committee", "working_committee", "general_branch", "branch"]

# Documents are recognised by their first bytes, never by a name or a declared type.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def can_have_children(org_type: str) -> bool:
    """Members belong to branches (团支部) only, and a branch has no child organisations."""
    return org_type != "branch"


def creation_is_late(
    approved_on: date, created_on: date, calendar: WorkingDayCalendar, deadline_working_days: int
) -> bool:
    """Created later than N working days after the parent's approval (counted from the next day)."""
    return created_on > calendar.add_working_days(approved_on, deadline_working_days)


def dissolution_due_by(
    decided_on: date, calendar: WorkingDayCalendar, deadline_working_days: int
) -> date:
    return calendar.add_working_days(decided_on, deadline_working_days)


@dataclass(frozen=True)
class Occupancy:
    """What stands in the way of dissolving an organisation."""

    members: int
    active_children: int  # not dissolved yet, dissolving ones included
    incoming_transfers: int  # open transfers of members into it

    @property
    def empty(self) -> bool:
        return self.members == 0 and self.active_children == 0 and self.incoming_transfers == 0


def sniff_content_type(head: bytes) -> str | None:
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    return None
