"""HTTP routes of the transfers service (API.md "Transfers"): asking for a transfer, its
reviews, its history and the lists of a branch's transfers in and out."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from shared.assessment_routes import add_assessment_route
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
    page_of,
    read_cursor,
    route_policy,
)
from transfers import service

router = APIRouter()
internal = APIRouter(prefix="/internal", include_in_schema=False)


class TransferIn(BaseModel):
    member_id: uuid.UUID
    to_org_id: uuid.UUID = Field(description="the branch the member moves to")
    reason: Literal["education", "employment", "military", "other"]
    note: str = Field(default="", max_length=500)


class TransferOut(BaseModel):
    id: uuid.UUID
    status: str
    due_by: date | None = Field(description="when the branch whose turn it is must review")


class ReasonIn(BaseModel):
    reason: NonBlank = Field(max_length=500)


def _calendar(request: Request) -> WorkingDayCalendar:
    return app_resource(request, "calendar", WorkingDayCalendar)


def _out(opened: service.Opened) -> TransferOut:
    return TransferOut(id=opened.id, status=opened.status, due_by=opened.due_by)


@router.post(
    "/transfers",
    status_code=201,
    response_model=TransferOut,
    openapi_extra=route_policy(allow="admin_or_member"),
    # member.not_found (or not one you may see); transfer.already_open, transfer.member_not_active
    responses=problems(404, 409),
)
async def request_transfer(
    body: TransferIn, request: Request, session: SessionDep, caller: CallerDep
) -> TransferOut:
    """The member, or an admin over the member's branch, asks to move the member to another
    active branch; the out-branch reviews within 5 working days."""
    async with session.begin():
        opened = await service.request_transfer(
            session,
            caller,
            _calendar(request),
            member_id=body.member_id,
            to_org_id=body.to_org_id,
            reason=body.reason,
            note=body.note,
            today=beijing_today(),
        )
    return _out(opened)


async def _step(
    request: Request,
    session: AsyncSession,
    caller: Caller,
    transfer_id: uuid.UUID,
    action: str,
    reason: str = "",
) -> TransferOut:
    async with session.begin():
        done = await service.take_step(
            session,
            caller,
            _calendar(request),
            transfer_id,
            action,
            today=beijing_today(),
            reason=reason,
        )
    return _out(done)


@router.post(
    "/transfers/{transfer_id}/approve",
    response_model=TransferOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # transfer.not_your_turn, transfer.not_open
)
async def approve(
    transfer_id: uuid.UUID, request: Request, session: SessionDep, caller: CallerDep
) -> TransferOut:
    """The branch whose turn it is (or an admin above it): out → on to the in-branch; in →
    completed (rejected for it if the target stopped being active)."""
    return await _step(request, session, caller, transfer_id, "approve")


@router.post(
    "/transfers/{transfer_id}/reject",
    response_model=TransferOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # transfer.not_your_turn, transfer.not_open
)
async def reject(
    transfer_id: uuid.UUID,
    body: ReasonIn,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
) -> TransferOut:
    """The branch whose turn it is refuses, saying why; the member stays where they were."""
    return await _step(request, session, caller, transfer_id, "reject", body.reason)


@router.post(
    "/transfers/{transfer_id}/cancel",
    response_model=TransferOut,
    openapi_extra=route_policy(allow="admin_or_member"),
    responses=problems(409),  # transfer.not_cancellable
)
async def cancel(
    transfer_id: uuid.UUID, request: Request, session: SessionDep, caller: CallerDep
) -> TransferOut:
    """Whoever asked withdraws, while the out-branch has not reviewed."""
    return await _step(request, session, caller, transfer_id, "cancel")


class DelayNoteOut(BaseModel):
    id: uuid.UUID


@router.post(
    "/transfers/{transfer_id}/delay-note",
    status_code=201,
    response_model=DelayNoteOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # transfer.not_your_turn, transfer.not_open
)
async def delay_note(
    transfer_id: uuid.UUID, body: ReasonIn, session: SessionDep, caller: CallerDep
) -> DelayNoteOut:
    """The branch whose turn it is says why its review is late; the other branch and the member
    read it on the transfer."""
    async with session.begin():
        note_id = await service.add_delay_note(session, caller, transfer_id, body.reason)
    return DelayNoteOut(id=note_id)


class StepOut(BaseModel):
    step: str
    actor_account_id: uuid.UUID | None
    actor_role: str
    taken_at: datetime
    due_by: date | None = Field(description="the deadline this step had")
    reason: str | None


class DelayNoteView(BaseModel):
    branch_id: uuid.UUID
    reason: str
    written_by: uuid.UUID | None
    written_at: datetime


class HistoryOut(BaseModel):
    id: uuid.UUID
    member_id: uuid.UUID
    from_branch_id: uuid.UUID
    to_branch_id: uuid.UUID
    reason: str
    note: str
    status: str
    due_by: date | None
    requested_at: datetime
    ended_at: datetime | None
    steps: list[StepOut]
    delay_notes: list[DelayNoteView]


@router.get(
    "/transfers/{transfer_id}",
    response_model=HistoryOut,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def read_transfer(
    transfer_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep
) -> HistoryOut:
    """For the member concerned and admins over either branch, with every step and who took it."""
    history = await service.transfer_history(session, caller, transfer_id)
    return HistoryOut.model_validate(history, from_attributes=True)


class ListedOut(BaseModel):
    id: uuid.UUID
    member_id: uuid.UUID
    from_branch_id: uuid.UUID
    to_branch_id: uuid.UUID
    status: str
    due_by: date | None
    overdue: bool
    requested_at: datetime


class TransferPage(BaseModel):
    items: list[ListedOut]
    next_cursor: str | None


@router.get(
    "/transfers",
    response_model=TransferPage,
    openapi_extra=route_policy(),
    responses=problems(404),  # org.not_found
)
async def list_transfers(
    org_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    direction: Literal["in", "out"] = "out",
    status: Literal["pending_out", "pending_in", "completed", "rejected", "cancelled"]
    | None = None,
    overdue: bool = Query(False, description="only open ones past their step's due date"),
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> TransferPage:
    """Transfers out of (or into) the branches of an organisation you administer, newest first."""
    after = read_cursor(
        cursor, lambda p: (datetime.fromisoformat(str(p["at"])), uuid.UUID(str(p["id"])))
    )
    found, next_cursor = page_of(
        await service.transfers_of(
            session,
            caller,
            org_id,
            incoming=direction == "in",
            status=status,
            overdue_only=overdue,
            today=beijing_today(),
            after=after,
            limit=limit + 1,
        ),
        limit,
        lambda t: {"at": t.requested_at.isoformat(), "id": str(t.id)},
    )
    return TransferPage(
        items=[ListedOut.model_validate(t, from_attributes=True) for t in found],
        next_cursor=next_cursor,
    )


@router.get(
    "/members/{member_id}/transfers",
    response_model=TransferPage,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def member_transfers(
    member_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    limit: LimitQuery = 20,
) -> TransferPage:
    """A member's transfers, newest first (我的组织关系转接): for the member and for admins
    over either branch; one page holds them all."""
    found = await service.transfers_of_member(session, caller, member_id, beijing_today(), limit)
    return TransferPage(
        items=[ListedOut.model_validate(t, from_attributes=True) for t in found],
        next_cursor=None,
    )


add_assessment_route(
    internal,
    "transfer-timeliness",
    service.timeliness_share,
    "Transfer review steps of the year taken by their due date over steps due (转接及时率)",
)
