"""HTTP routes of the fees service: parse, authorize, call a use case, shape the answer."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from fees.rules import FeeRules
from fees.service import profiles
from shared.calendar import beijing_today
from shared.http import CallerDep, SessionDep, app_resource, route_policy

router = APIRouter()


class FeeProfileIn(BaseModel):
    category: str = Field(
        min_length=1,
        max_length=32,
        description="`salaried`, or a category of the rate table in force (`student`, ...)",
    )
    monthly_income_fen: int | None = Field(
        default=None, description="after tax, in fen; required for `salaried` only"
    )


class FeeProfileOut(BaseModel):
    member_id: uuid.UUID
    category: str
    monthly_fee_fen: int
    rate_table: str
    updated_at: datetime


@router.put(
    "/members/{member_id}/fee-profile",
    response_model=FeeProfileOut,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def put_fee_profile(
    member_id: uuid.UUID,
    body: FeeProfileIn,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
) -> FeeProfileOut:
    """The member themselves or an admin over their branch. The income is sealed at once and
    never returned: the answer says what it makes a month."""
    async with session.begin():
        done = await profiles.set_profile(
            session,
            caller,
            app_resource(request, "rules", FeeRules),
            member_id,
            body.category,
            body.monthly_income_fen,
            today=beijing_today(),
        )
    return FeeProfileOut(
        member_id=done.member_id,
        category=done.category,
        monthly_fee_fen=done.monthly_fee_fen,
        rate_table=done.rate_table,
        updated_at=done.updated_at,
    )
