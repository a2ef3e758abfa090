"""HTTP routes of the members' statistics and the member list export (统计报表)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from members.service import org_in_scope
from members.service.reports import Counts, export_batches, statistics
from shared.audit import audit
from shared.calendar import beijing_today
from shared.http import CallerDep, SessionDep, app_resource, route_policy
from shared.orgtree import OrgDirectory
from shared.report_sheet import Figure, report_export, xlsx_answer
from shared.xlsx import XLSX, XlsxStream, attachment

router = APIRouter(tags=["statistics"])

EXPORT_HEADERS = (
    "团员编号",
    "姓名",
    "性别",
    "民族",
    "出生日期",
    "身份证号",
    "入团时间",
    "入团地点",
    "所在团支部",
    "状态",
)
GENDER = {"male": "男", "female": "女"}
STATUS = {"active": "正常", "transferring": "转接中"}


class CountsOut(BaseModel):
    org_id: uuid.UUID
    total: int
    gender: dict[str, int] = Field(description="male, female")
    ethnicity: dict[str, int]
    age_band: dict[str, int] = Field(
        description="14-18, 19-22, 23-25, 26-28, over_28 (as of today)"
    )
    joined_year: dict[str, int]

    @classmethod
    def of(cls, c: Counts) -> CountsOut:
        return cls(org_id=c.org_id, total=c.total, **{d: dict(v) for d, v in c.by.items()})


class MemberStatisticsOut(CountsOut):
    children: list[CountsOut]


@router.get(
    "/orgs/{org_id}/member-statistics",
    response_model=MemberStatisticsOut,
    openapi_extra=route_policy(org_param="org_id"),
)
async def member_statistics(
    org_id: uuid.UUID, request: Request, session: SessionDep, caller: CallerDep
) -> MemberStatisticsOut:
    """Members of the subtree (not those who left) by gender, ethnicity, age band and joining
    year, with each direct child's figures."""
    async with session.begin():
        org = await org_in_scope(
            session, app_resource(request, "directory", OrgDirectory), caller, org_id
        )
        total, children = await statistics(session, org, beijing_today())
    return MemberStatisticsOut(
        **CountsOut.of(total).model_dump(), children=[CountsOut.of(c) for c in children]
    )


AGE_BANDS = {
    "14-18": "14-18岁",
    "19-22": "19-22岁",
    "23-25": "23-25岁",
    "26-28": "26-28岁",
    "over_28": "28岁以上",
}
STATISTICS_SHEET = (
    Figure("团员总数", "total"),
    Figure("性别", "gender", labels=GENDER),
    Figure("民族", "ethnicity", labels={}),
    Figure("年龄段", "age_band", labels=AGE_BANDS),
    Figure("入团年份", "joined_year", labels={}),
)


@router.get(
    "/orgs/{org_id}/member-statistics/export",
    openapi_extra=route_policy(org_param="org_id"),
    responses=xlsx_answer("团员统计.xlsx"),
)
async def export_member_statistics(
    org_id: uuid.UUID, request: Request, session: SessionDep, caller: CallerDep
) -> Response:
    """The member statistics as .xlsx: the subtree's row (合计), then each direct child's, a
    column per gender, ethnicity, age band and joining year."""
    shown = await member_statistics(org_id, request, session, caller)
    return await report_export(
        request,
        caller,
        "member_statistics",
        "团员统计",
        shown.model_dump(mode="json"),
        STATISTICS_SHEET,
    )


def _export_row(row: Any) -> Sequence[object]:
    return (
        row.member_no,
        row.name,
        GENDER.get(row.gender, row.gender),
        row.ethnicity,
        row.birth_date.isoformat(),
        row.id_number_masked,
        row.joined_on.isoformat(),
        row.joined_place,
        row.branch_name,
        STATUS.get(row.status, row.status),
    )


@router.get(
    "/orgs/{org_id}/members/export",
    openapi_extra=route_policy(org_param="org_id"),
    responses={200: {"content": {XLSX: {}}, "description": "团员名单.xlsx"}},
)
async def export_members(
    org_id: uuid.UUID, request: Request, session: SessionDep, caller: CallerDep
) -> StreamingResponse:
    """The subtree's member list as .xlsx with Chinese headers, ID numbers masked, streamed as it
    is read (a province's list is never held whole). Recorded in the audit log like a reveal."""
    async with session.begin():
        org = await org_in_scope(
            session, app_resource(request, "directory", OrgDirectory), caller, org_id
        )
        await audit(session, caller, "members.export", "org", org_id)
    # The rows are read after this handler returns, so from a session of their own.
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions

    async def body() -> AsyncIterator[bytes]:
        sheet = XlsxStream("团员名单")
        yield sheet.start(EXPORT_HEADERS)
        async with sessions() as reader, reader.begin():
            async for batch in export_batches(reader, org):
                yield sheet.rows(_export_row(r) for r in batch)
        yield sheet.finish()

    return StreamingResponse(body(), media_type=XLSX, headers=attachment("团员名单.xlsx"))
