"""Edits, reviews and change requests (信息审核, 关键信息变更): a member's own non-key edits apply
at once and are reviewed afterwards; key fields change only when the branch approves."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from members.db import Member, Review
from members.domain.id_numbers import mask
from members.domain.member import FieldProblem, MemberFields, validate_member
from members.protection import IdProtection
from members.service import (
    PRODUCER,
    access_to,
    load_member,
    path_ids,
    path_text,
    require_active,
)
from members.service.records import ListPosition, duplicate_problem, find_registered
from shared.audit import audit
from shared.calendar import BEIJING, WorkingDayCalendar
from shared.caller import Caller
from shared.db import conflict_on_duplicate, keyset_after
from shared.events import (
    MEMBER_PUBLIC_FIELDS,
    MemberChangeApproved,
    MemberChangeRejected,
    MemberChangeRequested,
    MemberUpdated,
)
from shared.orgtree import OrgNode, is_admin_over
from shared.outbox import record_event
from shared.problems import Problem

KEY_FIELDS = ("name", "gender", "ethnicity", "birth_date", "id_number", "joined_on", "joined_place")
SELF_FIELDS = ("phone", "email", "employer", "hobbies")
EDITABLE = KEY_FIELDS + SELF_FIELDS


def problems_to_422(problems: list[FieldProblem]) -> Problem:
    first = problems[0]
    return Problem(
        422,
        first.code,
        f"{first.message_en} / {first.message_zh}",
        errors=[
            {"field": p.field, "code": p.code, "message": f"{p.message_zh} / {p.message_en}"}
            for p in problems
        ],
    )


def current_values(member: Member, protection: IdProtection) -> dict[str, Any]:
    return {
        "name": member.name,
        "gender": member.gender,
        "ethnicity": member.ethnicity,
        "birth_date": member.birth_date,
        "id_number": protection.open(member.id_number_sealed, member.id.bytes),
        "joined_on": member.joined_on,
        "joined_place": member.joined_place,
        "phone": member.phone,
        "email": member.email,
        "employer": member.employer,
    }


def merged_record(
    member: Member, changes: Mapping[str, Any], protection: IdProtection, today: date
) -> MemberFields:
    """The record as it would be after the changes, validated as a whole (an ID number must still
    agree with the birth date and gender, a member must still have joined at 14 or older)."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise Problem(
            422,
            "member.unknown_field",
            f"These fields cannot be changed: {', '.join(unknown)}.",
            errors=[{"field": f, "message": "not a changeable field"} for f in unknown],
        )
    raw = current_values(member, protection) | {k: v for k, v in changes.items() if k != "hobbies"}
    fields, problems = validate_member(raw, today)
    if problems or fields is None:
        raise problems_to_422(problems)
    return fields


HOBBIES_MAX = 500


def _stored(field: str, fields: MemberFields, changes: Mapping[str, Any]) -> Any:
    if field == "hobbies":
        value = changes.get("hobbies")
        if value is None:
            return None
        text = str(value).strip()
        if len(text) > HOBBIES_MAX:
            raise Problem(
                422,
                "member.field_invalid",
                f"Hobbies: at most {HOBBIES_MAX} characters.",
                errors=[{"field": "hobbies", "message": f"at most {HOBBIES_MAX} characters"}],
            )
        return text or None
    return getattr(fields, field)


@dataclass(frozen=True)
class Applied:
    changed: dict[str, tuple[Any, Any]]  # field -> (before, after); ID numbers masked


async def apply_changes(
    session: AsyncSession,
    caller: Caller,
    member: Member,
    changes: Mapping[str, Any],
    protection: IdProtection,
    today: date,
) -> Applied:
    fields = merged_record(member, changes, protection, today)
    before = current_values(member, protection) | {"hobbies": member.hobbies}
    changed: dict[str, tuple[Any, Any]] = {}
    for field in changes:
        new = _stored(field, fields, changes)
        if before[field] != new:
            changed[field] = (before[field], new)
    if "id_number" in changed:
        registered = await find_registered(session, caller, [protection.digest(fields.id_number)])
        if registered:
            raise duplicate_problem(registered[0])
        member.id_number_sealed = protection.seal(fields.id_number, member.id.bytes)
        member.id_number_hash = protection.digest(fields.id_number)
        member.id_number_masked = mask(fields.id_number)
        changed["id_number"] = (mask(str(before["id_number"])), mask(fields.id_number))
    for field, (_, new) in changed.items():
        if field != "id_number":
            setattr(member, field, new)
    if changed:
        member.revision += 1
        member.updated_at = datetime.now(UTC)
        with conflict_on_duplicate(
            "member.duplicate",
            "This ID number was registered a moment ago by someone else.",
            remedy="transfer",
        ):
            await session.flush()
        await record_event(
            session,
            MemberUpdated(
                member_id=member.id,
                branch_id=member.branch_id,
                changed_fields=sorted(changed),
                values={k: str(v[1]) for k, v in changed.items() if k in MEMBER_PUBLIC_FIELDS},
            ),
            PRODUCER,
        )
    return Applied(changed)


def _review_changes(applied: Applied) -> dict[str, Any]:
    return {k: {"from": _plain(v[0]), "to": _plain(v[1])} for k, v in applied.changed.items()}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


async def edit_member(
    session: AsyncSession,
    caller: Caller,
    member_id: uuid.UUID,
    changes: Mapping[str, Any],
    protection: IdProtection,
    today: date,
    calendar: WorkingDayCalendar,
    review_days: int,
) -> tuple[Member, Review | None]:
    member = await load_member(session, member_id, lock=True)
    access = access_to(caller, member)
    require_active(member)
    if not access.is_admin:
        key = sorted(set(changes) & set(KEY_FIELDS))
        if key:
            raise Problem(
                403,
                "member.key_field_needs_approval",
                "Key information changes only with the branch's approval: send a change request.",
                fields=key,
            )
    applied = await apply_changes(session, caller, member, changes, protection, today)
    review = None
    if access.is_self and not access.is_admin and applied.changed:
        review = Review(
            member_id=member.id,
            branch_id=member.branch_id,
            org_path=member.org_path,
            kind="self_edit",
            changes=_review_changes(applied),
            status="pending",
            due_by=calendar.add_working_days(today, review_days),
            submitted_by=caller.account_id,
        )
        session.add(review)
        await session.flush()
    if access.is_admin:
        await audit(session, caller, "member.edit", "member", member.id)
    return member, review


async def request_change(
    session: AsyncSession,
    caller: Caller,
    member_id: uuid.UUID,
    changes: Mapping[str, Any],
    reason: str,
    protection: IdProtection,
    today: date,
    calendar: WorkingDayCalendar,
    review_days: int,
) -> Review:
    member = await load_member(session, member_id, lock=True)
    if not access_to(caller, member).is_self:
        raise Problem(
            403, "member.self_only", "Only the member asks for a change to the own record."
        )
    require_active(member)
    if not changes:
        raise Problem(422, "member.no_changes", "Name at least one field to change.")
    not_key = sorted(set(changes) - set(KEY_FIELDS))
    if not_key:
        raise Problem(
            422,
            "member.not_a_key_field",
            f"Change these directly instead: {', '.join(not_key)}.",
            fields=not_key,
        )
    fields = merged_record(member, changes, protection, today)
    before = current_values(member, protection)
    proposed = {
        k: {"from": _plain(before[k]), "to": _plain(_stored(k, fields, changes))}
        for k in changes
        if before[k] != _stored(k, fields, changes)
    }
    if not proposed:
        raise Problem(422, "member.no_changes", "The record already holds these values.")
    if "id_number" in proposed:
        # Only masked copies sit in the request; the full number is applied from the sealed one.
        proposed["id_number"] = {
            "from": mask(str(before["id_number"])),
            "to": mask(fields.id_number),
            "sealed": protection.seal(fields.id_number, member.id.bytes),
        }
    review = Review(
        member_id=member.id,
        branch_id=member.branch_id,
        org_path=member.org_path,
        kind="change_request",
        changes=proposed,
        reason=reason,
        status="pending",
        due_by=calendar.add_working_days(today, review_days),
        submitted_by=caller.account_id,
    )
    session.add(review)
    with conflict_on_duplicate(
        "member.change_request_open", "A change request is already waiting for the branch."
    ):
        await session.flush()
    await record_event(
        session,
        MemberChangeRequested(
            member_id=member.id,
            branch_id=member.branch_id,
            request_id=review.id,
            fields=sorted(changes),
            due_by=review.due_by,
        ),
        PRODUCER,
    )
    return review


async def _pending_review(session: AsyncSession, caller: Caller, review_id: uuid.UUID) -> Review:
    review = (
        await session.execute(select(Review).where(Review.id == review_id).with_for_update())
    ).scalar_one_or_none()
    if review is None or not is_admin_over(caller, path_ids(review.org_path)):
        raise Problem(404, "review.not_found", "No such change request.")
    if review.status != "pending":
        raise Problem(409, "review.already_decided", f"This request was already {review.status}.")
    return review


async def approve(
    session: AsyncSession,
    caller: Caller,
    review_id: uuid.UUID,
    protection: IdProtection,
    today: date,
) -> Review:
    # The member's row before the review's: the order of every path that holds both (an edit,
    # a change request, a transfer's move take the member, then its pending reviews). The other
    # order deadlocks against a transfer of the member completed at the same moment.
    await session.execute(
        text(
            "SELECT 1 FROM members WHERE id = (SELECT member_id FROM reviews WHERE id = :id) "
            "FOR UPDATE"
        ),
        {"id": review_id},
    )
    review = await _pending_review(session, caller, review_id)
    if review.kind == "change_request":
        member = await load_member(session, review.member_id, lock=True)
        require_active(member)
        changes: dict[str, Any] = {k: v["to"] for k, v in review.changes.items()}
        if "id_number" in review.changes:
            changes["id_number"] = protection.open(
                review.changes["id_number"]["sealed"], member.id.bytes
            )
        await apply_changes(session, caller, member, changes, protection, today)
        await record_event(
            session,
            MemberChangeApproved(
                member_id=member.id,
                branch_id=member.branch_id,
                request_id=review.id,
                fields=sorted(review.changes),
            ),
            PRODUCER,
        )
    review.status, review.decided_by, review.decided_at = (
        "approved",
        caller.account_id,
        datetime.now(UTC),
    )
    await audit(session, caller, "review.approve", "review", review.id)
    return review


async def reject(
    session: AsyncSession, caller: Caller, review_id: uuid.UUID, reason: str
) -> Review:
    review = await _pending_review(session, caller, review_id)
    review.status, review.decided_by, review.decided_at = (
        "rejected",
        caller.account_id,
        datetime.now(UTC),
    )
    review.decision_reason = reason
    kind: Literal["self_edit", "change_request"] = (
        "self_edit" if review.kind == "self_edit" else "change_request"
    )
    await record_event(
        session,
        MemberChangeRejected(
            member_id=review.member_id,
            branch_id=review.branch_id,
            request_id=review.id,
            kind=kind,
            fields=sorted(review.changes),
            reason=reason,
        ),
        PRODUCER,
    )
    await audit(session, caller, "review.reject", "review", review.id)
    return review


@dataclass(frozen=True)
class PendingReview:
    review: Review
    member_no: str
    name: str
    overdue: bool


async def pending_reviews(
    session: AsyncSession,
    org: OrgNode,
    today: date,
    limit: int,
    after: tuple[date, datetime, uuid.UUID] | None = None,
) -> list[PendingReview]:
    """Pending reviews in the subtree, the most urgent first."""
    prefix = path_text(org.path)
    stmt = (
        select(Review, Member.member_no, Member.name)
        .join(Member, Member.id == Review.member_id)
        .where(
            Review.status == "pending",
            Review.org_path >= prefix,
            Review.org_path < prefix[:-1] + "0",
        )
        .order_by(Review.due_by, Review.submitted_at, Review.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(keyset_after([Review.due_by, Review.submitted_at, Review.id], after))
    rows = await session.execute(stmt)
    return [PendingReview(r.Review, r.member_no, r.name, r.Review.due_by < today) for r in rows]


async def count_overdue(session: AsyncSession, org: OrgNode, today: date) -> int:
    """All overdue reviews in the subtree, not only those on the page shown."""
    prefix = path_text(org.path)
    return int(
        (
            await session.execute(
                select(func.count()).where(
                    Review.status == "pending",
                    Review.due_by < today,
                    Review.org_path >= prefix,
                    Review.org_path < prefix[:-1] + "0",
                )
            )
        ).scalar_one()
    )


@dataclass(frozen=True)
class LateAccount:
    member_id: uuid.UUID
    member_no: str
    name: str
    branch_id: uuid.UUID
    joined_on: date
    due_by: date
    account_created_at: datetime | None
    org_path: str  # with name and member_id, the place in the list


async def late_accounts(
    session: AsyncSession,
    org: OrgNode,
    today: date,
    calendar: WorkingDayCalendar,
    due_days: int,
    after: ListPosition | None,
    limit: int,
) -> list[LateAccount]:
    """New members (recorded within the deadline after joining) whose account came after the
    deadline, or has not come by now: there should be none unless events stalled. In tree order,
    then by name (index members_subtree), after `after`.

    The deadline lies at least `due_days` calendar days after joining (and rarely more than
    three times that), so SQL keeps only rows that could be late and the calendar decides
    exactly; a page may take more than one batch of such rows. Dates are Beijing dates.
    """
    prefix = path_text(org.path)
    order = [Member.org_path, Member.name, Member.id]
    could_be_late = select(
        Member.id,
        Member.member_no,
        Member.name,
        Member.branch_id,
        Member.joined_on,
        Member.created_at,
        Member.account_created_at,
        Member.org_path,
    ).where(
        Member.org_path >= prefix,
        Member.org_path < prefix[:-1] + "0",
        Member.created_at < Member.joined_on + (due_days * 3 + 30),
        ((Member.account_created_at.is_(None)) & (Member.joined_on + due_days < today))
        | (Member.account_created_at >= Member.joined_on + due_days),
    )
    late: list[LateAccount] = []
    position = after
    while len(late) < limit:
        stmt = could_be_late.order_by(*order).limit(limit)
        if position is not None:
            stmt = stmt.where(keyset_after(order, [position.org_path, position.name, position.id]))
        batch = list(await session.execute(stmt))
        for m in batch:
            due_by = calendar.add_working_days(m.joined_on, due_days)
            recorded_in_time = m.created_at.astimezone(BEIJING).date() <= due_by
            came = m.account_created_at.astimezone(BEIJING).date() if m.account_created_at else None
            if recorded_in_time and (
                (came is None and today > due_by) or (came is not None and came > due_by)
            ):
                late.append(
                    LateAccount(
                        m.id,
                        m.member_no,
                        m.name,
                        m.branch_id,
                        m.joined_on,
                        due_by,
                        m.account_created_at,
                        m.org_path,
                    )
                )
        if len(batch) < limit:
            break
        position = ListPosition(batch[-1].org_path, batch[-1].name, batch[-1].id)
    return late[:limit]
