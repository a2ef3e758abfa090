"""The transfer of a member's organisation relationship (组织关系转接) as pure rules: who may
take which step when, where each step leads, and its deadline.

pending_out ──approve (out-branch)──▶ pending_in ──approve (in-branch)──▶ completed
     │                                   │   └── target no longer active ──▶ rejected
     ├── reject (out-branch) ──▶ rejected └── reject (in-branch) ──▶ rejected
     └── cancel (the requester) ──▶ cancelled

Each branch reviews within 5 working days of the step reaching it (DOMAIN.md §5). The admin of
the branch whose turn it is acts, or an admin above that branch; an admin over the other branch
is told it is not their turn (409), anyone else is not in scope (403): never a silent success.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from shared.calendar import WorkingDayCalendar
from shared.caller import Caller
from shared.orgtree import is_admin_over

Status = Literal["pending_out", "pending_in", "completed", "rejected", "cancelled"]
OPEN: frozenset[str] = frozenset({"pending_out", "pending_in"})
REASONS = ("education", "employment", "military", "other")
STEP_WORKING_DAYS = 5


class TransferRefused(Exception):
    """A step the rules do not allow: the HTTP status and stable code to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Transfer:
    """What the rules need to know of a transfer."""

    status: Status
    from_path: tuple[uuid.UUID, ...]  # the out-branch's path, root first
    to_path: tuple[uuid.UUID, ...]  # the in-branch's path
    requested_by: uuid.UUID | None  # the account that asked


@dataclass(frozen=True)
class Step:
    """Where a step leads: the new status, the event that says so, the next deadline."""

    status: Status
    event: str
    due_by: date | None = None
    # Set when the system, not the admin, decided (the target stopped being active).
    refusal: str | None = None


def due_by(reached_on: date, calendar: WorkingDayCalendar) -> date:
    """The last day a branch may review a step that reached it on `reached_on`."""
    return calendar.add_working_days(reached_on, STEP_WORKING_DAYS)


def is_overdue(due: date | None, today: date) -> bool:
    return due is not None and today > due


def done_in_time(due: date, done_on: date) -> bool:
    """A step counts as timely when it was taken on or before its due date."""
    return done_on <= due


@dataclass(frozen=True)
class Target:
    org_id: uuid.UUID
    org_type: str
    status: str  # active | dissolving | dissolved


def check_request(member_branch_id: uuid.UUID, target: Target, reason: str) -> None:
    """What a new transfer must satisfy besides the member's state (checked by its owner)."""
    if reason not in REASONS:
        raise TransferRefused(
            422, "transfer.invalid_reason", f"The reason is one of {', '.join(REASONS)}."
        )
    if target.org_type != "branch":
        raise TransferRefused(
            422, "transfer.target_not_branch", "Members belong to branches; choose a branch."
        )
    if target.status != "active":
        raise TransferRefused(
            422, "transfer.target_inactive", "The branch is dissolving or dissolved."
        )
    if target.org_id == member_branch_id:
        raise TransferRefused(
            422, "transfer.same_branch", "The member already belongs to this branch."
        )


def turn_path(transfer: Transfer) -> Sequence[uuid.UUID]:
    """The path of the branch whose turn it is (only for an open transfer)."""
    return transfer.from_path if transfer.status == "pending_out" else transfer.to_path


def _require_turn(transfer: Transfer, caller: Caller) -> None:
    if transfer.status not in OPEN:
        raise TransferRefused(409, "transfer.not_open", f"The transfer is {transfer.status}.")
    if is_admin_over(caller, turn_path(transfer)):
        return
    other = transfer.to_path if transfer.status == "pending_out" else transfer.from_path
    if is_admin_over(caller, other):
        waiting_for = "out" if transfer.status == "pending_out" else "in"
        raise TransferRefused(
            409,
            "transfer.not_your_turn",
            f"The transfer waits for the {waiting_for}-branch's review, not yours.",
        )
    raise TransferRefused(403, "auth.out_of_scope", "This transfer is not yours to review.")


def approve(
    transfer: Transfer,
    caller: Caller,
    *,
    today: date,
    calendar: WorkingDayCalendar,
    target_active: bool,
) -> Step:
    """The branch whose turn it is approves: out → on to the in-branch, with its own deadline;
    in → completed, unless the target stopped being active meanwhile (then rejected for it)."""
    _require_turn(transfer, caller)
    if transfer.status == "pending_out":
        return Step("pending_in", "transfer.out_approved", due_by(today, calendar))
    if not target_active:
        return Step("rejected", "transfer.rejected", refusal="transfer.target_inactive")
    return Step("completed", "transfer.completed")


def reject(transfer: Transfer, caller: Caller, reason: str) -> Step:
    """The branch whose turn it is refuses, saying why; the member stays where they were."""
    _require_turn(transfer, caller)
    if not reason.strip():
        raise TransferRefused(422, "transfer.reason_required", "Say why the transfer is refused.")
    return Step("rejected", "transfer.rejected")


def cancel(transfer: Transfer, caller: Caller) -> Step:
    """The requester withdraws, only before the out-branch has approved."""
    if transfer.status != "pending_out":
        raise TransferRefused(
            409,
            "transfer.not_cancellable",
            f"Only a transfer waiting for its first review can be cancelled; this one is "
            f"{transfer.status}.",
        )
    if caller.account_id is None or caller.account_id != transfer.requested_by:
        raise TransferRefused(
            403, "transfer.not_requester", "Only whoever asked for the transfer can cancel it."
        )
    return Step("cancelled", "transfer.cancelled")


def check_delay_note(transfer: Transfer, caller: Caller, reason: str) -> None:
    """A branch that cannot review in time says why (DOMAIN.md §5): only on its own turn."""
    _require_turn(transfer, caller)
    if not reason.strip():
        raise TransferRefused(422, "transfer.reason_required", "Say why the review is late.")
