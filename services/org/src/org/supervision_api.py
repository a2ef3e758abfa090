"""HTTP routes of inspections and rectification notices (监督检查与整改)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from org.domain.supervision import AREA_NAMES, DEFAULT_DUE_WORKING_DAYS, Area, is_overdue
from org.service import assessment as assessment_service
from org.service import supervision
from org.settings import OrgSettings
from shared.calendar import WorkingDayCalendar, beijing_today
from shared.caller import Caller
from shared.contract import problems
from shared.http import (
    CallerDep,
    LimitQuery,
    NonBlank,
    ReadSessionDep,
    SessionDep,
    app_resource,
    app_settings,
    page_of,
    read_cursor,
    route_policy,
)
from shared.report_sheet import (
    ORG_STATUSES,
    ORG_TYPES,
    Figure,
    audit_export,
    report_export,
    xlsx_answer,
)
from shared.xlsx import XLSX, attachment, whole

router = APIRouter(tags=["supervision"])


class InspectionIn(BaseModel):
    areas: list[Area] = Field(min_length=1, max_length=4)
    note: NonBlank | None = Field(default=None, max_length=2000)


class FindingIn(BaseModel):
    area: Area
    finding: NonBlank = Field(min_length=1, max_length=2000)
    due_working_days: int = Field(default=DEFAULT_DUE_WORKING_DAYS, ge=1, le=60)


class ReportIn(BaseModel):
    report: NonBlank = Field(min_length=1, max_length=4000)
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)


class SendBackIn(BaseModel):
    reason: NonBlank = Field(min_length=1, max_length=2000)


class RectificationOut(BaseModel):
    id: uuid.UUID
    source: Literal["inspection", "spot_check"]
    inspection_id: uuid.UUID | None
    spot_check_item_id: uuid.UUID | None
    org_id: uuid.UUID
    inspector_org_id: uuid.UUID
    area: str
    area_name: str  # the words on the console: 团员信息, 团费管理, ...
    finding: str | None
    due_by: date
    status: Literal["open", "submitted", "sent_back", "accepted"]
    overdue: bool
    report: str | None
    report_document_ids: list[uuid.UUID]
    submitted_at: datetime | None
    sent_back_reason: str | None
    decided_at: datetime | None
    rounds: int
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> RectificationOut:
        m = row._mapping
        return cls(
            **{k: m[k] for k in cls.model_fields if k in m},
            area_name=AREA_NAMES.get(row.area, row.area),
            overdue=is_overdue(row.status, row.due_by, beijing_today()),
        )


class InspectionOut(BaseModel):
    id: uuid.UUID
    org_id: uuid.UUID
    inspector_org_id: uuid.UUID
    areas: list[str]
    note: str | None
    opened_at: datetime
    rectifications: list[RectificationOut] | None = None

    @classmethod
    def of(cls, row: Any, notices: list[Any] | None = None) -> InspectionOut:
        m = row._mapping
        return cls(
            **{k: m[k] for k in cls.model_fields if k in m and k != "rectifications"},
            rectifications=None if notices is None else [RectificationOut.of(n) for n in notices],
        )


class InspectionPage(BaseModel):
    items: list[InspectionOut]
    next_cursor: str | None


class RectificationPage(BaseModel):
    items: list[RectificationOut]
    next_cursor: str | None


@router.post(
    "/orgs/{org_id}/inspections",
    status_code=201,
    response_model=InspectionOut,
    openapi_extra=route_policy(org_param="org_id"),
    responses=problems(409),  # org.dissolved
)
async def open_inspection(
    org_id: uuid.UUID, body: InspectionIn, session: SessionDep, caller: CallerDep
) -> InspectionOut:
    """Inspect an organisation below yours in the chosen areas (监督检查)."""
    async with session.begin():
        row = await supervision.open_inspection(
            session, caller, org_id, list(body.areas), body.note
        )
    return InspectionOut.of(row)


@router.get(
    "/orgs/{org_id}/inspections",
    response_model=InspectionPage,
    openapi_extra=route_policy(org_param="org_id"),
)
async def list_inspections(
    org_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> InspectionPage:
    """Inspections of the organisation and every organisation below it, newest first."""
    after = read_cursor(
        cursor, lambda p: (datetime.fromisoformat(str(p["at"])), uuid.UUID(str(p["id"])))
    )
    rows, next_cursor = page_of(
        await supervision.list_inspections(session, caller, org_id, after=after, limit=limit + 1),
        limit,
        lambda r: {"at": r.opened_at.isoformat(), "id": str(r.id)},
    )
    return InspectionPage(items=[InspectionOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/inspections/{inspection_id}", response_model=InspectionOut, openapi_extra=route_policy()
)
async def read_inspection(
    inspection_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep
) -> InspectionOut:
    """An inspection with its rectification notices."""
    row, notices = await supervision.read_inspection(session, caller, inspection_id)
    return InspectionOut.of(row, notices)


@router.post(
    "/inspections/{inspection_id}/findings",
    status_code=201,
    response_model=RectificationOut,
    openapi_extra=route_policy(),
)
async def record_finding(
    inspection_id: uuid.UUID,
    body: FindingIn,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
) -> RectificationOut:
    """A finding: a rectification notice to the inspected organisation, due in working days."""
    async with session.begin():
        row = await supervision.record_finding(
            session,
            caller,
            inspection_id,
            supervision.Finding(body.area, body.finding, body.due_working_days),
            calendar=app_resource(request, "calendar", WorkingDayCalendar),
            today=beijing_today(),
        )
    return RectificationOut.of(row)


@router.get(
    "/orgs/{org_id}/rectifications",
    response_model=RectificationPage,
    openapi_extra=route_policy(org_param="org_id"),
)
async def list_rectifications(
    org_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    status: Literal["open", "submitted", "sent_back", "accepted"] | None = None,
    overdue: bool = False,
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> RectificationPage:
    """Rectification notices of the whole subtree (inspections' findings and failed spot
    checks), by due date; `overdue=true`: those still waiting past their due date."""
    after = read_cursor(
        cursor, lambda p: (date.fromisoformat(str(p["due"])), uuid.UUID(str(p["id"])))
    )
    rows, next_cursor = page_of(
        await supervision.list_rectifications(
            session,
            caller,
            org_id,
            status=status,
            overdue_on=beijing_today() if overdue else None,
            after=after,
            limit=limit + 1,
        ),
        limit,
        lambda r: {"due": r.due_by.isoformat(), "id": str(r.id)},
    )
    return RectificationPage(items=[RectificationOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/rectifications/{rectification_id}",
    response_model=RectificationOut,
    openapi_extra=route_policy(),
)
async def read_rectification(
    rectification_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep
) -> RectificationOut:
    return RectificationOut.of(
        await supervision.read_rectification(session, caller, rectification_id)
    )


@router.post(
    "/rectifications/{rectification_id}/report",
    response_model=RectificationOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # rectification.wrong_state
)
async def submit_report(
    rectification_id: uuid.UUID, body: ReportIn, session: SessionDep, caller: CallerDep
) -> RectificationOut:
    """The lower organisation reports its rectification (整改报告), with documents uploaded first."""
    async with session.begin():
        row = await supervision.submit_report(
            session, caller, rectification_id, body.report, body.document_ids
        )
    return RectificationOut.of(row)


@router.post(
    "/rectifications/{rectification_id}/accept",
    response_model=RectificationOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # rectification.wrong_state
)
async def accept(
    rectification_id: uuid.UUID, session: SessionDep, caller: CallerDep
) -> RectificationOut:
    async with session.begin():
        row = await supervision.decide(session, caller, rectification_id, "accept")
    return RectificationOut.of(row)


@router.post(
    "/rectifications/{rectification_id}/send-back",
    response_model=RectificationOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # rectification.wrong_state
)
async def send_back(
    rectification_id: uuid.UUID, body: SendBackIn, session: SessionDep, caller: CallerDep
) -> RectificationOut:
    async with session.begin():
        row = await supervision.decide(session, caller, rectification_id, "send_back", body.reason)
    return RectificationOut.of(row)


# --- the annual assessment (年度考核) ---------------------------------------------------------


class AssessmentChildOut(BaseModel):
    org_id: uuid.UUID
    name: str
    numerator: int
    denominator: int
    rate: float | None


class IndicatorOut(BaseModel):
    indicator: str
    name: str  # 中文: 系统使用率, 信息准确率, ...
    numerator: int
    denominator: int
    rate: float | None = Field(description="numerator / denominator; none when nothing counted")
    children: list[AssessmentChildOut]


class AssessmentOut(BaseModel):
    org_id: uuid.UUID
    year: int
    indicators: list[IndicatorOut]
    unavailable: list[str] = Field(
        description="indicators whose service did not answer: the report is incomplete"
    )


@router.get(
    "/orgs/{org_id}/assessment",
    response_model=AssessmentOut,
    openapi_extra=route_policy(org_param="org_id"),
)
async def assessment(
    org_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    caller: CallerDep,
    year: int = Query(ge=2000, le=2100),
) -> AssessmentOut:
    """The year's assessment over the subtree: each figure with each direct child's, so an
    admin sees who pulls it down."""
    return _assessment_out(await _report(org_id, request, session, caller, year))


async def _report(
    org_id: uuid.UUID, request: Request, session: AsyncSession, caller: Caller, year: int
) -> assessment_service.Report:
    settings = app_settings(request, OrgSettings)
    return await assessment_service.report(
        session,
        caller,
        org_id,
        year,
        urls=settings.service_urls(),
        secret=settings.platform.internal_secret,
        today=beijing_today(),
    )


def _assessment_out(found: assessment_service.Report) -> AssessmentOut:
    return AssessmentOut(
        org_id=found.org_id,
        year=found.year,
        unavailable=found.unavailable,
        indicators=[
            IndicatorOut(
                indicator=f.indicator,
                name=assessment_service.indicator_name(f.indicator),
                numerator=f.numerator,
                denominator=f.denominator,
                rate=f.rate,
                children=[
                    AssessmentChildOut(**c.model_dump(), name=found.names.get(c.org_id, ""))
                    for c in f.children
                ],
            )
            for f in found.indicators
        ],
    )


ASSESSMENT_HEADERS = ("指标", "组织", "达标数", "总数", "比率")


@router.get(
    "/orgs/{org_id}/assessment/export",
    openapi_extra=route_policy(org_param="org_id"),
    responses={200: {"content": {XLSX: {}}, "description": "年度考核.xlsx"}},
)
async def export_assessment(
    org_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    caller: CallerDep,
    year: int = Query(ge=2000, le=2100),
) -> Response:
    """The assessment as .xlsx: each figure for the subtree, then for each direct child."""
    shown = _assessment_out(await _report(org_id, request, session, caller, year))
    await audit_export(request, caller, "assessment", org_id)
    rows: list[tuple[object, ...]] = []
    for figure in shown.indicators:
        rows.append((figure.name, "合计", figure.numerator, figure.denominator, _rate(figure.rate)))
        rows += [
            (figure.name, c.name, c.numerator, c.denominator, _rate(c.rate))
            for c in figure.children
        ]
    if shown.unavailable:
        rows.append(("未能取得", "、".join(shown.unavailable), "", "", ""))
    content = whole(f"{year}年度考核", ASSESSMENT_HEADERS, rows)
    return Response(content, media_type=XLSX, headers=attachment(f"{year}年度考核.xlsx"))


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.2%}"


class OrgCountsOut(BaseModel):
    org_id: uuid.UUID
    name: str | None = None
    total: int
    by_type: dict[str, int] = Field(
        description="committee, working_committee, general_branch, branch"
    )
    by_status: dict[str, int] = Field(description="active, dissolving, dissolved")


class OrgStatisticsOut(OrgCountsOut):
    children: list[OrgCountsOut]


@router.get(
    "/orgs/{org_id}/org-statistics",
    response_model=OrgStatisticsOut,
    openapi_extra=route_policy(org_param="org_id"),
)
async def org_statistics(
    org_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep
) -> OrgStatisticsOut:
    """The organisations below by type and status, with each direct child's subtree."""
    total, children, names = await assessment_service.org_statistics(session, caller, org_id)
    return OrgStatisticsOut(
        org_id=total.org_id,
        total=total.total,
        by_type=total.by_type,
        by_status=total.by_status,
        children=[
            OrgCountsOut(
                org_id=c.org_id,
                name=names.get(c.org_id),
                total=c.total,
                by_type=c.by_type,
                by_status=c.by_status,
            )
            for c in children
        ],
    )


ORG_STATISTICS_SHEET = (
    Figure("组织总数", "total"),
    Figure("类型", "by_type", labels=ORG_TYPES),
    Figure("状态", "by_status", labels=ORG_STATUSES),
)


@router.get(
    "/orgs/{org_id}/org-statistics/export",
    openapi_extra=route_policy(org_param="org_id"),
    responses=xlsx_answer("组织统计.xlsx"),
)
async def export_org_statistics(
    org_id: uuid.UUID, request: Request, session: ReadSessionDep, caller: CallerDep
) -> Response:
    """The organisation statistics as .xlsx: the subtree's row (合计), then each direct child's,
    a column per type and per status."""
    shown = await org_statistics(org_id, session, caller)
    return await report_export(
        request,
        caller,
        "org_statistics",
        "组织统计",
        shown.model_dump(mode="json"),
        ORG_STATISTICS_SHEET,
        {str(c.org_id): c.name or "" for c in shown.children},
    )
