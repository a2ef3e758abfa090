"""Inspections and rectification (监督检查与整改), as rules without I/O.

An upper organisation inspects a lower one in chosen areas; each finding becomes a rectification
notice due in working days. The lower organisation reports (open or sent back → submitted); the
inspector accepts the report (→ accepted, final) or sends it back with a reason (→ sent_back).
A notice is overdue while it waits for the lower organisation past its due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Area = Literal["accounts", "member_information", "org_management", "dues"]
AREAS: tuple[Area, ...] = ("accounts", "member_information", "org_management", "dues")
AREA_NAMES: dict[str, str] = {
    "accounts": "账号管理",
    "member_information": "团员信息",
    "org_management": "组织管理",
    "dues": "团费管理",
    "spot_check": "信息抽查",
}
Status = Literal["open", "submitted", "sent_back", "accepted"]
Action = Literal["submit", "accept", "send_back"]
# Working days a finding gives unless the inspector says otherwise, and the most it may give.
DEFAULT_DUE_WORKING_DAYS = 10
MAX_DUE_WORKING_DAYS = 60

# Who acts, from which states, to which state.
TRANSITIONS: dict[Action, tuple[frozenset[str], Status]] = {
    "submit": (frozenset({"open", "sent_back"}), "submitted"),
    "accept": (frozenset({"submitted"}), "accepted"),
    "send_back": (frozenset({"submitted"}), "sent_back"),
}
# The states in which the lower organisation owes something: only these can be overdue.
AWAITING_LOWER: frozenset[str] = frozenset({"open", "sent_back"})


@dataclass(frozen=True)
class Refused(Exception):
    """A rule said no: the problem's status, stable code and message."""

    status: int
    code: str
    message: str


def after(status: str, action: Action) -> Status:
    """The status `action` leads to from `status`, or Refused (409) when it cannot happen."""
    allowed_from, to = TRANSITIONS[action]
    if status not in allowed_from:
        raise Refused(
            409,
            "rectification.wrong_state",
            f"A rectification that is {status} cannot be {action.replace('_', ' ')}ed now.",
        )
    return to


def check_inspectable(inspector_id: object, target_path: list[object]) -> None:
    """An organisation inspects organisations strictly below it, never itself or others."""
    if inspector_id not in target_path[:-1]:
        raise Refused(
            422,
            "inspection.not_below",
            "An organisation inspects the organisations below it, not itself or others.",
        )


def check_areas(areas: list[str]) -> None:
    if not areas or len(set(areas)) != len(areas):
        raise Refused(422, "inspection.areas", "Choose each area to inspect once, at least one.")


def check_due_days(days: int) -> None:
    if not 1 <= days <= MAX_DUE_WORKING_DAYS:
        raise Refused(
            422,
            "rectification.due_days",
            f"A rectification is due in 1 to {MAX_DUE_WORKING_DAYS} working days.",
        )


def is_overdue(status: str, due_by: date, today: date) -> bool:
    return status in AWAITING_LOWER and due_by < today
