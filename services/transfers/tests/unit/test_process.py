"""The transfer's state machine: every allowed and refused step, and deadlines over holidays."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from shared.calendar import WorkingDayCalendar
from shared.caller import Caller
from transfers.domain.process import (
    Target,
    Transfer,
    TransferRefused,
    approve,
    cancel,
    check_delay_note,
    check_request,
    done_in_time,
    due_by,
    is_overdue,
    reject,
)

CALENDAR = WorkingDayCalendar()
ROOT, CITY, COUNTY_A, COUNTY_B, BRANCH_A, BRANCH_B = (uuid.uuid4() for _ in range(6))
FROM_PATH = (ROOT, CITY, COUNTY_A, BRANCH_A)
TO_PATH = (ROOT, CITY, COUNTY_B, BRANCH_B)
MEMBER_ACCOUNT = uuid.uuid4()
TODAY = date(2026, 12, 3)


def admin_of(org: uuid.UUID) -> Caller:
    return Caller(account_id=uuid.uuid4(), role="admin", org_id=org)


MEMBER = Caller(account_id=MEMBER_ACCOUNT, role="member", org_id=BRANCH_A, member_id=uuid.uuid4())


def transfer(status: str, requested_by: uuid.UUID | None = MEMBER_ACCOUNT) -> Transfer:
    return Transfer(status, FROM_PATH, TO_PATH, requested_by)  # type: ignore[arg-type]


def refused(step, *args, **kwargs) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(TransferRefused) as caught:
        step(*args, **kwargs)
    return caught.value.status, caught.value.code


def approve_now(t: Transfer, caller: Caller, target_active: bool = True):  # type: ignore[no-untyped-def]
    return approve(t, caller, today=TODAY, calendar=CALENDAR, target_active=target_active)


@pytest.mark.parametrize("reviewer", [BRANCH_A, COUNTY_A, CITY, ROOT])
def test_the_out_branch_or_above_approves_and_the_in_branch_gets_five_working_days(
    reviewer: uuid.UUID,
) -> None:
    step = approve_now(transfer("pending_out"), admin_of(reviewer))
    assert (step.status, step.event) == ("pending_in", "transfer.out_approved")
    assert step.due_by == CALENDAR.add_working_days(TODAY, 5)


@pytest.mark.parametrize("reviewer", [BRANCH_B, COUNTY_B, CITY, ROOT])
def test_the_in_branch_or_above_completes_it(reviewer: uuid.UUID) -> None:
    step = approve_now(transfer("pending_in"), admin_of(reviewer))
    assert (step.status, step.event, step.due_by) == ("completed", "transfer.completed", None)


def test_a_target_that_stopped_being_active_rejects_it_at_the_in_approval() -> None:
    step = approve_now(transfer("pending_in"), admin_of(BRANCH_B), target_active=False)
    assert (step.status, step.event, step.refusal) == (
        "rejected",
        "transfer.rejected",
        "transfer.target_inactive",
    )


@pytest.mark.parametrize(
    ("status", "caller", "expected"),
    [
        # The other branch's admins are told it is not their turn.
        ("pending_out", admin_of(BRANCH_B), (409, "transfer.not_your_turn")),
        ("pending_out", admin_of(COUNTY_B), (409, "transfer.not_your_turn")),
        ("pending_in", admin_of(BRANCH_A), (409, "transfer.not_your_turn")),
        ("pending_in", admin_of(COUNTY_A), (409, "transfer.not_your_turn")),
        # Anyone else is out of scope: another county, the member, a stranger.
        ("pending_out", admin_of(uuid.uuid4()), (403, "auth.out_of_scope")),
        ("pending_out", MEMBER, (403, "auth.out_of_scope")),
        ("pending_in", MEMBER, (403, "auth.out_of_scope")),
    ],
)
def test_whoever_it_is_not_the_turn_of_is_refused_for_every_review_step(
    status: str, caller: Caller, expected: tuple[int, str]
) -> None:
    t = transfer(status)
    assert refused(approve_now, t, caller) == expected
    assert refused(reject, t, caller, "no") == expected
    assert refused(check_delay_note, t, caller, "busy") == expected


@pytest.mark.parametrize("status", ["completed", "rejected", "cancelled"])
def test_an_ended_transfer_takes_no_step(status: str) -> None:
    t = transfer(status)
    for reviewer in (admin_of(BRANCH_A), admin_of(BRANCH_B), admin_of(ROOT)):
        assert refused(approve_now, t, reviewer) == (409, "transfer.not_open")
        assert refused(reject, t, reviewer, "no") == (409, "transfer.not_open")
        assert refused(check_delay_note, t, reviewer, "late") == (409, "transfer.not_open")
    assert refused(cancel, t, MEMBER) == (409, "transfer.not_cancellable")


@pytest.mark.parametrize(
    ("status", "reviewer"), [("pending_out", BRANCH_A), ("pending_in", BRANCH_B)]
)
def test_a_refusal_needs_a_reason_and_leaves_the_member_where_they_were(
    status: str, reviewer: uuid.UUID
) -> None:
    t = transfer(status)
    assert refused(reject, t, admin_of(reviewer), "  ") == (422, "transfer.reason_required")
    step = reject(t, admin_of(reviewer), "材料不全")
    assert (step.status, step.event) == ("rejected", "transfer.rejected")


def test_only_the_requester_cancels_and_only_before_the_first_review() -> None:
    assert cancel(transfer("pending_out"), MEMBER).status == "cancelled"
    asked_by_admin = admin_of(BRANCH_A)
    by_admin = transfer("pending_out", requested_by=asked_by_admin.account_id)
    assert cancel(by_admin, asked_by_admin).event == "transfer.cancelled"
    assert refused(cancel, by_admin, MEMBER) == (403, "transfer.not_requester")
    assert refused(cancel, transfer("pending_out"), admin_of(ROOT)) == (
        403,
        "transfer.not_requester",
    )
    assert refused(cancel, transfer("pending_in"), MEMBER) == (409, "transfer.not_cancellable")


def test_a_late_branch_says_why_on_its_own_turn() -> None:
    check_delay_note(transfer("pending_out"), admin_of(COUNTY_A), "书记出差")
    check_delay_note(transfer("pending_in"), admin_of(BRANCH_B), "书记出差")
    assert refused(check_delay_note, transfer("pending_in"), admin_of(BRANCH_B), "") == (
        422,
        "transfer.reason_required",
    )


@pytest.mark.parametrize(
    ("target", "reason", "code"),
    [
        (Target(BRANCH_B, "committee", "active"), "education", "transfer.target_not_branch"),
        (Target(BRANCH_B, "branch", "dissolving"), "education", "transfer.target_inactive"),
        (Target(BRANCH_B, "branch", "dissolved"), "employment", "transfer.target_inactive"),
        (Target(BRANCH_A, "branch", "active"), "military", "transfer.same_branch"),
        (Target(BRANCH_B, "branch", "active"), "holiday", "transfer.invalid_reason"),
    ],
)
def test_a_request_names_an_active_other_branch_and_a_known_reason(
    target: Target, reason: str, code: str
) -> None:
    assert refused(check_request, BRANCH_A, target, reason) == (422, code)


def test_a_request_to_an_active_other_branch_is_fine() -> None:
    check_request(BRANCH_A, Target(BRANCH_B, "branch", "active"), "other")


def test_five_working_days_run_over_national_day() -> None:
    # Asked on Friday 26 Sep 2025: the 28th (a make-up Sunday), 29th and 30th, then 9 and 10 Oct.
    assert due_by(date(2025, 9, 26), CALENDAR) == date(2025, 10, 10)
    assert not is_overdue(date(2025, 10, 10), date(2025, 10, 10))
    assert is_overdue(date(2025, 10, 10), date(2025, 10, 11))
    assert not is_overdue(None, date(2030, 1, 1))
    assert done_in_time(date(2025, 10, 10), date(2025, 10, 10))
    assert not done_in_time(date(2025, 10, 10), date(2025, 10, 11))
