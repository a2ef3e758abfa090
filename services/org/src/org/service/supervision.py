"""Inspections and rectification notices (监督检查与整改): one transaction each, the state change,
its event and its audit line together.

Who may do what: an admin inspects the organisations below its own and records findings on its
inspections (or an admin above it); the lower organisation's own admins report; the inspecting
organisation's admins (or above) accept or send back. Whoever cannot see a notice gets 404;
whoever sees it but is not the party to act gets 403 `rectification.not_yours`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from org.domain import supervision as rules
from org.domain.supervision import Action, Refused
from org.service import PRODUCER, get_org
from shared.audit import audit
from shared.calendar import WorkingDayCalendar
from shared.caller import Caller
from shared.events import (
    RectificationDecided,
    RectificationOrdered,
    RectificationSubmitted,
    SpotCheckFailed,
)
from shared.orgtree import is_admin_over, require_admin_over
from shared.outbox import record_event
from shared.problems import Problem

RECTIFICATION = (
    "SELECT r.*, i.path AS inspector_path FROM rectifications r "
    "JOIN orgs i ON i.id = r.inspector_org_id WHERE r.id = :id"
)


def refused(exc: Refused) -> Problem:
    return Problem(exc.status, exc.code, exc.message)


def rectification_not_found() -> Problem:
    return Problem(404, "rectification.not_found", "No such rectification notice.")


def not_yours(what: str) -> Problem:
    return Problem(403, "rectification.not_yours", what)


@dataclass(frozen=True)
class Finding:
    area: str
    text: str
    due_working_days: int


async def open_inspection(
    session: AsyncSession, caller: Caller, org_id: uuid.UUID, areas: list[str], note: str | None
) -> Any:
    target = await get_org(session, org_id)
    require_admin_over(caller, target.path)
    try:
        rules.check_areas(areas)
        if caller.org_id is None:
            raise Refused(403, "inspection.admins_only", "Inspections are an organisation's.")
        rules.check_inspectable(caller.org_id, list(target.path))
    except Refused as exc:
        raise refused(exc) from None
    if target.status == "dissolved":
        raise Problem(409, "org.dissolved", "A dissolved organisation is not inspected.")
    inspection = (
        await session.execute(
            text(
                "INSERT INTO inspections (id, org_id, inspector_org_id, areas, note, opened_by) "
                "VALUES (:id, :org, :inspector, :areas, :note, :by) RETURNING *"
            ),
            {
                "id": uuid.uuid4(),
                "org": org_id,
                "inspector": caller.org_id,
                "areas": areas,
                "note": note,
                "by": caller.account_id,
            },
        )
    ).one()
    await audit(session, caller, "inspection.opened", "inspection", inspection.id)
    return inspection


async def _inspection(session: AsyncSession, caller: Caller, inspection_id: uuid.UUID) -> Any:
    """The inspection with both organisations' paths, if the caller may see it."""
    row = (
        await session.execute(
            text(
                "SELECT i.*, o.path AS org_path, p.path AS inspector_path FROM inspections i "
                "JOIN orgs o ON o.id = i.org_id JOIN orgs p ON p.id = i.inspector_org_id "
                "WHERE i.id = :id"
            ),
            {"id": inspection_id},
        )
    ).first()
    if row is None or not is_admin_over(caller, row.org_path):
        raise Problem(404, "inspection.not_found", "No such inspection.")
    return row


async def read_inspection(
    session: AsyncSession, caller: Caller, inspection_id: uuid.UUID
) -> tuple[Any, list[Any]]:
    inspection = await _inspection(session, caller, inspection_id)
    notices = (
        await session.execute(
            text("SELECT * FROM rectifications WHERE inspection_id = :id ORDER BY created_at, id"),
            {"id": inspection_id},
        )
    ).all()
    return inspection, list(notices)


async def record_finding(
    session: AsyncSession,
    caller: Caller,
    inspection_id: uuid.UUID,
    finding: Finding,
    *,
    calendar: WorkingDayCalendar,
    today: date,
) -> Any:
    """A finding of an inspection becomes a rectification notice to the inspected organisation."""
    inspection = await _inspection(session, caller, inspection_id)
    if not is_admin_over(caller, inspection.inspector_path):
        raise not_yours("Findings are recorded by the inspecting organisation.")
    if finding.area not in inspection.areas:
        raise Problem(
            422, "inspection.area_not_inspected", "This inspection does not cover that area."
        )
    try:
        rules.check_due_days(finding.due_working_days)
    except Refused as exc:
        raise refused(exc) from None
    due_by = calendar.add_working_days(today, finding.due_working_days)
    notice = (
        await session.execute(
            text(
                "INSERT INTO rectifications (id, source, inspection_id, org_id, org_path, "
                "inspector_org_id, area, finding, due_by) VALUES (:id, 'inspection', :inspection, "
                ":org, :path, :inspector, :area, :finding, :due) RETURNING *"
            ),
            {
                "id": uuid.uuid4(),
                "inspection": inspection.id,
                "org": inspection.org_id,
                "path": list(inspection.org_path),
                "inspector": inspection.inspector_org_id,
                "area": finding.area,
                "finding": finding.text,
                "due": due_by,
            },
        )
    ).one()
    await _ordered(session, notice, "inspection")
    await audit(session, caller, "rectification.ordered", "rectification", notice.id)
    return notice


async def _ordered(session: AsyncSession, notice: Any, source: str) -> None:
    await record_event(
        session,
        RectificationOrdered(
            rectification_id=notice.id,
            org_id=notice.org_id,
            inspector_org_id=notice.inspector_org_id,
            source="inspection" if source == "inspection" else "spot_check",
            area=notice.area,
            due_by=notice.due_by,
        ),
        PRODUCER,
    )


async def from_spot_check(session: AsyncSession, event: SpotCheckFailed) -> bool:
    """A failed spot check's rectification joins the list (once, however often it is told)."""
    branch = await get_org(session, event.branch_id)
    notice = (
        await session.execute(
            text(
                "INSERT INTO rectifications (id, source, spot_check_item_id, org_id, org_path, "
                "inspector_org_id, area, due_by) VALUES (:id, 'spot_check', :item, :org, :path, "
                ":inspector, 'member_information', :due) ON CONFLICT (id) DO NOTHING RETURNING *"
            ),
            {
                "id": event.rectification_id,
                "item": event.spot_check_item_id,
                "org": event.branch_id,
                "path": list(branch.path),
                "inspector": event.checking_org_id,
                "due": event.due_by,
            },
        )
    ).first()
    if notice is None:
        return False
    await _ordered(session, notice, "spot_check")
    return True


async def _locked(session: AsyncSession, caller: Caller, notice_id: uuid.UUID) -> Any:
    notice = (
        await session.execute(text(RECTIFICATION + " FOR UPDATE OF r"), {"id": notice_id})
    ).first()
    if notice is None or not is_admin_over(caller, notice.org_path):
        raise rectification_not_found()
    return notice


async def read_rectification(session: AsyncSession, caller: Caller, notice_id: uuid.UUID) -> Any:
    notice = (await session.execute(text(RECTIFICATION), {"id": notice_id})).first()
    if notice is None or not is_admin_over(caller, notice.org_path):
        raise rectification_not_found()
    return notice


def _next(notice: Any, action: Action) -> str:
    try:
        return rules.after(notice.status, action)
    except Refused as exc:
        raise refused(exc) from None


async def submit_report(
    session: AsyncSession,
    caller: Caller,
    notice_id: uuid.UUID,
    report: str,
    document_ids: list[uuid.UUID],
) -> Any:
    """The lower organisation's own admins report what they corrected."""
    notice = await _locked(session, caller, notice_id)
    if caller.org_id != notice.org_id:
        raise not_yours("The organisation that must correct reports its rectification.")
    status = _next(notice, "submit")
    if document_ids:
        known = await session.scalar(
            text("SELECT count(*) FROM documents WHERE id = ANY(:ids)"), {"ids": document_ids}
        )
        if known != len(set(document_ids)):
            raise Problem(
                422,
                "rectification.document_unknown",
                "Upload the documents first (POST /documents).",
            )
    updated = (
        await session.execute(
            text(
                "UPDATE rectifications SET status = :status, report = :report, "
                "report_document_ids = :docs, submitted_at = now(), rounds = rounds + 1 "
                "WHERE id = :id RETURNING *"
            ),
            {"status": status, "report": report, "docs": document_ids, "id": notice_id},
        )
    ).one()
    await record_event(
        session,
        RectificationSubmitted(
            rectification_id=notice.id,
            org_id=notice.org_id,
            inspector_org_id=notice.inspector_org_id,
        ),
        PRODUCER,
    )
    await audit(session, caller, "rectification.submitted", "rectification", notice.id)
    return updated


async def decide(
    session: AsyncSession,
    caller: Caller,
    notice_id: uuid.UUID,
    action: Action,
    reason: str | None = None,
) -> Any:
    """The inspecting organisation accepts the report or sends it back with its reason."""
    notice = await _locked(session, caller, notice_id)
    if not is_admin_over(caller, notice.inspector_path):
        raise not_yours("The inspecting organisation accepts or sends back a rectification.")
    status = _next(notice, action)
    updated = (
        await session.execute(
            text(
                "UPDATE rectifications SET status = CAST(:status AS varchar), decided_at = now(), "
                "sent_back_reason = CASE WHEN CAST(:status AS varchar) = 'sent_back' "
                "THEN CAST(:reason AS text) ELSE sent_back_reason END WHERE id = :id RETURNING *"
            ),
            {"status": status, "reason": reason, "id": notice_id},
        )
    ).one()
    await record_event(
        session,
        RectificationDecided(
            rectification_id=notice.id,
            org_id=notice.org_id,
            inspector_org_id=notice.inspector_org_id,
            decision="accepted" if status == "accepted" else "sent_back",
        ),
        PRODUCER,
    )
    await audit(session, caller, f"rectification.{status}", "rectification", notice.id)
    return updated


async def list_rectifications(
    session: AsyncSession,
    caller: Caller,
    org_id: uuid.UUID,
    *,
    status: str | None,
    overdue_on: date | None,
    after: tuple[date, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    """The notices of an organisation's whole subtree, by due date; `overdue_on`: only those
    waiting for the lower organisation past their due date on that day."""
    org = await get_org(session, org_id)
    require_admin_over(caller, org.path)
    clauses = ["org_path @> ARRAY[CAST(:org AS uuid)]"]
    params: dict[str, Any] = {"org": org_id, "limit": limit}
    if status is not None:
        clauses.append("status = :status")
        params["status"] = status
    if overdue_on is not None:
        clauses.append("status IN ('open', 'sent_back') AND due_by < :today")
        params["today"] = overdue_on
    if after is not None:
        clauses.append("(due_by, id) > (:after_due, :after_id)")
        params.update(after_due=after[0], after_id=after[1])
    rows = await session.execute(
        text(
            "SELECT * FROM rectifications WHERE "  # noqa: S608 (fixed clauses, bound values)
            + " AND ".join(clauses)
            + " ORDER BY due_by, id LIMIT :limit"
        ),
        params,
    )
    return list(rows)


async def list_inspections(
    session: AsyncSession,
    caller: Caller,
    org_id: uuid.UUID,
    *,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    """Inspections of organisations in the subtree, newest first."""
    org = await get_org(session, org_id)
    require_admin_over(caller, org.path)
    rows = await session.execute(
        text(
            "SELECT i.* FROM inspections i JOIN orgs o ON o.id = i.org_id "
            "WHERE o.path @> ARRAY[CAST(:org AS uuid)] "
            "AND (CAST(:after_at AS timestamptz) IS NULL OR (i.opened_at, i.id) < "
            "(CAST(:after_at AS timestamptz), CAST(:after_id AS uuid))) "
            "ORDER BY i.opened_at DESC, i.id DESC LIMIT :limit"
        ),
        {
            "org": org_id,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return list(rows)
