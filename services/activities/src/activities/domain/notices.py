"""What each event tells whom, in the words people read (消息通知): one template per source.

Adding a source is a template here (the event's type and a function from the event to its
notices) and its event type on the service's notices queue (activities.handlers); nothing else.
A notice goes to one member, to an organisation's admins, or to every active member of a
branch (the month's dues lists: written set-based from the service's member copy).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from shared.events import (
    BillsGenerated,
    Event,
    MemberChangeApproved,
    MemberChangeRejected,
    RectificationDecided,
    RectificationOrdered,
    RectificationSubmitted,
    RemittanceOverdue,
    TransferCancelled,
    TransferCompleted,
    TransferEvent,
    TransferOutApproved,
    TransferRejected,
    TransferRequested,
)


@dataclass(frozen=True)
class Notice:
    """One notification, to exactly one of: a member, an organisation's admins, or every active
    member of a branch."""

    kind: str
    title: str
    body: str
    member_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    branch_members: uuid.UUID | None = None
    link: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        chosen = [r for r in (self.member_id, self.org_id, self.branch_members) if r is not None]
        if len(chosen) != 1:
            raise ValueError("a notice goes to a member, an organisation or a branch's members")


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _transfer_notices(
    e: TransferEvent, member: tuple[str, str], branches: tuple[str, str] | None
) -> list[Notice]:
    """The member hears `member` (title, body); both branches' admins hear `branches`."""
    link = {"transfer_id": str(e.transfer_id)}
    notices = [Notice(e.type, *member, member_id=e.member_id, link=link)]
    if branches is not None:
        notices += [
            Notice(e.type, *branches, org_id=org, link=link)
            for org in (e.from_branch_id, e.to_branch_id)
        ]
    return notices


def transfer_requested(e: Event) -> list[Notice]:
    assert isinstance(e, TransferRequested)
    return _transfer_notices(
        e,
        ("组织关系转接申请已提交", f"转出团支部将于{_day(e.due_by)}前完成审核。"),
        ("新的组织关系转接申请", f"一名团员申请转接组织关系，转出审核期限{_day(e.due_by)}。"),
    )


def transfer_out_approved(e: Event) -> list[Notice]:
    assert isinstance(e, TransferOutApproved)
    return _transfer_notices(
        e,
        ("转出团支部已同意", f"转入团支部将于{_day(e.due_by)}前完成审核。"),
        ("组织关系转接待转入审核", f"转出团支部已同意，转入审核期限{_day(e.due_by)}。"),
    )


def transfer_completed(e: Event) -> list[Notice]:
    assert isinstance(e, TransferCompleted)
    return _transfer_notices(
        e,
        ("组织关系转接已完成", "你的团员关系已转入新的团支部。"),
        ("组织关系转接已完成", "一名团员的组织关系转接已完成。"),
    )


# Transfers ended by the system, not by a branch (their codes): the member left the rolls, or
# the record was in another branch when the completion came (transfers.service).
ENDED_BY_THE_SYSTEM = {
    "member.departed": (
        ("组织关系转接已终止", "你已离团，组织关系转接终止。"),
        ("组织关系转接已终止", "一名团员已离团，其组织关系转接终止。"),
    ),
    "member.elsewhere": (
        ("组织关系转接未生效", "你的团员关系已在其他团支部，本次转接未生效。"),
        ("组织关系转接未生效", "一名团员的团员关系已在其他团支部，本次转接未生效。"),
    ),
}


def transfer_rejected(e: Event) -> list[Notice]:
    assert isinstance(e, TransferRejected)
    if e.code in ENDED_BY_THE_SYSTEM:
        return _transfer_notices(e, *ENDED_BY_THE_SYSTEM[e.code])
    by = "转出团支部" if e.at == "out" else "转入团支部"
    why = "转入团支部已停止接收" if e.code == "transfer.target_inactive" else "请查看驳回理由"
    return _transfer_notices(
        e,
        ("组织关系转接被驳回", f"{by}驳回了你的转接申请：{why}。你仍在原团支部。"),
        ("组织关系转接已驳回", f"{by}驳回了一名团员的转接申请。"),
    )


def transfer_cancelled(e: Event) -> list[Notice]:
    assert isinstance(e, TransferCancelled)
    return _transfer_notices(
        e,
        ("组织关系转接已撤回", "转接申请已撤回，你仍在原团支部。"),
        ("组织关系转接已撤回", "一名团员撤回了转接申请。"),
    )


def change_approved(e: Event) -> list[Notice]:
    assert isinstance(e, MemberChangeApproved)
    return [
        Notice(
            e.type,
            "信息变更已通过",
            "你提交的团员信息变更已审核通过。",
            member_id=e.member_id,
            link={"request_id": str(e.request_id)},
        )
    ]


def change_rejected(e: Event) -> list[Notice]:
    assert isinstance(e, MemberChangeRejected)
    return [
        Notice(
            e.type,
            "信息变更被驳回",
            f"你提交的团员信息变更未通过：{e.reason}。请修改后重新提交。",
            member_id=e.member_id,
            link={"request_id": str(e.request_id)},
        )
    ]


def bills_generated(e: Event) -> list[Notice]:
    """Each listed branch: its admins get the month's dues list, its members their bill."""
    assert isinstance(e, BillsGenerated)
    year, month = e.month.split("-")
    when = f"{year}年{int(month)}月"
    link = {"month": e.month}
    notices: list[Notice] = []
    for branch in e.branches:
        notices.append(
            Notice(
                e.type,
                f"{when}团费收缴名单已生成",
                f"本支部{branch.bills}名团员应交团费合计{branch.due_fen / 100:.2f}元。",
                org_id=branch.branch_id,
                link=link,
            )
        )
        notices.append(
            Notice(
                e.type,
                f"{when}团费待缴纳",
                f"{when}的团费账单已生成，请按时缴纳。",
                branch_members=branch.branch_id,
                link=link,
            )
        )
    return notices


def remittance_overdue(e: Event) -> list[Notice]:
    """The organisation sitting on the dues, and the parent waiting for them."""
    assert isinstance(e, RemittanceOverdue)
    year, month = e.month.split("-")
    when = f"{year}年{int(month)}月"
    amount = f"{e.held_fen / 100:.2f}元"
    link = {"month": e.month, "org_id": str(e.org_id)}
    notices = [
        Notice(
            e.type,
            "团费上缴逾期",
            f"{when}团费{amount}应于{_day(e.due_by)}前上缴，请尽快上缴。",
            org_id=e.org_id,
            link=link,
        )
    ]
    if e.parent_id is not None:
        notices.append(
            Notice(
                e.type,
                "下级组织团费上缴逾期",
                f"一个下级组织的{when}团费{amount}已超过上缴期限{_day(e.due_by)}。",
                org_id=e.parent_id,
                link=link,
            )
        )
    return notices


AREA_WORDS = {
    "accounts": "账号管理",
    "member_information": "团员信息",
    "org_management": "组织管理",
    "dues": "团费管理",
}


def rectification_ordered(e: Event) -> list[Notice]:
    """The lower organisation's admins: what to correct, by when."""
    assert isinstance(e, RectificationOrdered)
    what = "信息抽查未通过" if e.source == "spot_check" else "监督检查发现问题"
    area = AREA_WORDS.get(e.area, e.area)
    return [
        Notice(
            e.type,
            "整改通知",
            f"{what}（{area}），请于{_day(e.due_by)}前完成整改并提交整改报告。",
            org_id=e.org_id,
            link={"rectification_id": str(e.rectification_id)},
        )
    ]


def rectification_submitted(e: Event) -> list[Notice]:
    """The inspecting organisation's admins: a report waits for them."""
    assert isinstance(e, RectificationSubmitted)
    return [
        Notice(
            e.type,
            "整改报告待审核",
            "一个下级组织提交了整改报告，请审核。",
            org_id=e.inspector_org_id,
            link={"rectification_id": str(e.rectification_id)},
        )
    ]


def rectification_decided(e: Event) -> list[Notice]:
    """The lower organisation's admins: accepted, or sent back to report again."""
    assert isinstance(e, RectificationDecided)
    title, body = (
        ("整改已通过", "上级组织已确认你组织的整改。")
        if e.decision == "accepted"
        else ("整改被退回", "上级组织退回了你组织的整改报告，请查看退回理由并重新提交。")
    )
    return [
        Notice(
            e.type, title, body, org_id=e.org_id, link={"rectification_id": str(e.rectification_id)}
        )
    ]


# Sources whose notices to a member also go by SMS (the member may not open the app for days
# while a transfer waits on them).
SMS_SOURCES = frozenset(
    {
        TransferRequested.type,
        TransferOutApproved.type,
        TransferCompleted.type,
        TransferRejected.type,
        TransferCancelled.type,
    }
)

# THE sources: an event type and what it tells whom.
TEMPLATES: dict[str, Callable[[Event], list[Notice]]] = {
    TransferRequested.type: transfer_requested,
    TransferOutApproved.type: transfer_out_approved,
    TransferCompleted.type: transfer_completed,
    TransferRejected.type: transfer_rejected,
    TransferCancelled.type: transfer_cancelled,
    MemberChangeApproved.type: change_approved,
    MemberChangeRejected.type: change_rejected,
    BillsGenerated.type: bills_generated,
    RemittanceOverdue.type: remittance_overdue,
    RectificationOrdered.type: rectification_ordered,
    RectificationSubmitted.type: rectification_submitted,
    RectificationDecided.type: rectification_decided,
}


def activity_published(
    activity_id: uuid.UUID, title: str, place: str, starts_on: date
) -> tuple[str, str, dict[str, str]]:
    """The notice every member of an activity's audience gets: title, body, link."""
    return (
        f"新活动：{title}",
        f"{_day(starts_on)}在{place}举行，欢迎报名参加。",
        {"activity_id": str(activity_id)},
    )
