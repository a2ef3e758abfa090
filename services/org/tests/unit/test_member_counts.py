"""How a batch of member events moves the branches' member counts."""

from __future__ import annotations

import uuid
from datetime import date

from org.handlers import count_changes
from shared.events import (
    ImportedMember,
    MemberCreated,
    MemberDeparted,
    MembersImported,
    MemberTransferred,
)

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def created(branch: uuid.UUID) -> MemberCreated:
    return MemberCreated(
        member_id=uuid.uuid4(),
        branch_id=branch,
        member_no="1",
        name="甲",
        joined_on=date(2020, 1, 1),
    )


def transferred(frm: uuid.UUID, to: uuid.UUID) -> MemberTransferred:
    return MemberTransferred(
        member_id=uuid.uuid4(),
        transfer_id=uuid.uuid4(),
        from_branch_id=frm,
        to_branch_id=to,
        from_path=[frm],
        to_path=[to],
    )


def test_new_members_add_transfers_move_and_departures_take_away() -> None:
    imported = MembersImported(
        branch_id=B,
        members=[
            ImportedMember(
                member_id=uuid.uuid4(), member_no=str(n), name="乙", joined_on=date(2020, 1, 1)
            )
            for n in range(3)
        ],
    )
    departed = MemberDeparted(
        member_id=uuid.uuid4(), branch_id=C, reason="over_age", on=date(2026, 1, 1)
    )
    changes = count_changes([created(A), imported, transferred(A, C), transferred(B, A), departed])
    assert changes == {A: 1 - 1 + 1, B: 3 - 1, C: 1 - 1}


def test_a_transfer_there_and_back_in_one_batch_changes_nothing() -> None:
    changes = count_changes([transferred(A, B), transferred(B, A)])
    assert {branch: n for branch, n in changes.items() if n} == {}
