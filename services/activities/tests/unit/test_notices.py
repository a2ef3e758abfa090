"""What each source event tells whom."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from activities.domain.notices import TEMPLATES, Notice
from shared.events import (
    BillsGenerated,
    BranchBills,
    RemittanceOverdue,
    TransferCancelled,
    TransferOutApproved,
    TransferRejected,
)

MEMBER, FROM, TO, TRANSFER = (uuid.uuid4() for _ in range(4))
STEP = {"transfer_id": TRANSFER, "member_id": MEMBER, "from_branch_id": FROM, "to_branch_id": TO}


def test_a_transfer_step_tells_the_member_and_both_branches() -> None:
    for event in (
        TransferOutApproved(**STEP, due_by=date(2027, 3, 8)),
        TransferRejected(**STEP, at="in"),
        TransferCancelled(**STEP),
    ):
        notices = TEMPLATES[event.type](event)
        assert [(n.member_id, n.org_id) for n in notices] == [
            (MEMBER, None),
            (None, FROM),
            (None, TO),
        ]
        assert {n.kind for n in notices} == {event.type}
        assert all(n.link == {"transfer_id": str(TRANSFER)} for n in notices)


def test_a_rejection_says_who_refused_and_why_when_the_system_did() -> None:
    by_branch = TEMPLATES["transfer.rejected"](TransferRejected(**STEP, at="out"))[0]
    assert "转出团支部" in by_branch.body and "驳回理由" in by_branch.body
    by_system = TEMPLATES["transfer.rejected"](
        TransferRejected(**STEP, at="in", code="transfer.target_inactive")
    )[0]
    assert "停止接收" in by_system.body
    # Ended because the member left the rolls, or was in another branch: nobody refused it.
    left = TEMPLATES["transfer.rejected"](TransferRejected(**STEP, at="in", code="member.departed"))
    assert all("驳回" not in n.body and "离团" in n.body for n in left)
    elsewhere = TEMPLATES["transfer.rejected"](
        TransferRejected(**STEP, at="in", code="member.elsewhere")
    )
    assert all("未生效" in n.title for n in elsewhere)


def test_a_dues_month_tells_each_branch_and_all_its_members() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    event = BillsGenerated(
        month="2027-02",
        chunk_no=3,
        branches=[
            BranchBills(branch_id=a, bills=2, due_fen=40),
            BranchBills(branch_id=b, bills=1, due_fen=1500),
        ],
    )
    notices = TEMPLATES[event.type](event)
    assert [(n.org_id, n.branch_members) for n in notices] == [
        (a, None),
        (None, a),
        (b, None),
        (None, b),
    ]
    assert notices[2].body == "本支部1名团员应交团费合计15.00元。"
    assert notices[1].title == "2027年2月团费待缴纳"


def test_a_notice_has_exactly_one_kind_of_recipient() -> None:
    with pytest.raises(ValueError):
        Notice("x", "t", "b")
    with pytest.raises(ValueError):
        Notice("x", "t", "b", member_id=MEMBER, org_id=FROM)


def test_an_overdue_holding_tells_the_holder_and_the_parent_waiting() -> None:
    holder, parent = uuid.uuid4(), uuid.uuid4()
    event = RemittanceOverdue(
        org_id=holder, parent_id=parent, month="2027-03", held_fen=12_345, due_by=date(2027, 4, 9)
    )
    [mine, theirs] = TEMPLATES[event.type](event)
    assert (mine.org_id, theirs.org_id) == (holder, parent)
    assert mine.body == "2027年3月团费123.45元应于2027年4月9日前上缴，请尽快上缴。"
    root = event.model_copy(update={"parent_id": None})
    assert [n.org_id for n in TEMPLATES[event.type](root)] == [holder]


def test_a_rectification_tells_the_lower_organisation_then_the_inspector_then_back() -> None:
    from shared.events import RectificationDecided, RectificationOrdered, RectificationSubmitted

    lower, upper, notice = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    who = {"rectification_id": notice, "org_id": lower, "inspector_org_id": upper}
    (ordered,) = TEMPLATES["rectification.ordered"](
        RectificationOrdered(
            **who, source="spot_check", area="member_information", due_by=date(2026, 12, 18)
        )
    )
    assert ordered.org_id == lower and ordered.title == "整改通知"
    assert "信息抽查未通过（团员信息）" in ordered.body and "2026年12月18日前" in ordered.body
    (submitted,) = TEMPLATES["rectification.submitted"](RectificationSubmitted(**who))
    assert submitted.org_id == upper and submitted.title == "整改报告待审核"
    (back,) = TEMPLATES["rectification.decided"](RectificationDecided(**who, decision="sent_back"))
    (done,) = TEMPLATES["rectification.decided"](RectificationDecided(**who, decision="accepted"))
    assert back.org_id == done.org_id == lower
    assert (back.title, done.title) == ("整改被退回", "整改已通过")
    assert back.link == {"rectification_id": str(notice)}
