"""HTTP routes of the activities service (API.md "Activities and notices"): publishing an
activity to an audience, signing up, the summary after it, and every account's notification
inbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from activities.service import activities, announcements, notifications, photos, statistics
from activities.service.activities import NewActivity
from activities.settings import ActivitiesSettings
from shared.assessment_routes import add_assessment_route
from shared.calendar import BEIJING
from shared.contract import problems
from shared.http import (
    CallerDep,
    LimitQuery,
    NonBlank,
    OptionalCallerDep,
    ReadSessionDep,
    SessionDep,
    app_settings,
    page_of,
    read_cursor,
    route_policy,
)
from shared.orgtree import replica_node_in_scope
from shared.problems import Problem
from shared.report_sheet import Figure, percent, report_export, xlsx_answer

router = APIRouter()
internal = APIRouter(prefix="/internal", include_in_schema=False)


def _now() -> datetime:
    return datetime.now(UTC)


class ActivityIn(BaseModel):
    title: NonBlank = Field(max_length=200)
    theme: NonBlank = Field(max_length=200, description="活动主题")
    description: str = Field(default="", max_length=5000)
    place: NonBlank = Field(max_length=200, description="活动地点")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    audience_org_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=200,
        description="organisations under this one whose members are invited (参与范围); "
        "default: this organisation's whole subtree",
    )
    capacity: int | None = Field(default=None, ge=1, le=1_000_000, description="名额")
    signup_deadline: AwareDatetime | None = Field(
        default=None, description="报名截止时间; default: the start"
    )


class FanOutOut(BaseModel):
    """How far the activity's notifications are written."""

    chunks_total: int
    chunks_done: int
    notified: int = Field(description="notifications written so far")
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> FanOutOut:
        return cls(
            chunks_total=row.chunks_total,
            chunks_done=row.chunks_done,
            notified=row.notified,
            finished_at=row.fanout_finished_at,
        )


class SummaryOut(BaseModel):
    text: str
    photo_document_ids: list[uuid.UUID]
    written_at: datetime


class ActivityOut(BaseModel):
    id: uuid.UUID
    org_id: uuid.UUID
    title: str
    theme: str
    description: str
    place: str
    starts_at: datetime
    ends_at: datetime
    audience_org_ids: list[uuid.UUID]
    capacity: int | None
    signup_deadline: datetime | None
    signups: int
    places_left: int | None
    notifications: FanOutOut
    summary: SummaryOut | None
    signed_up: bool = Field(
        default=False, description="in an organisation's list: whether the calling member signed up"
    )

    @classmethod
    def of(cls, row: Any) -> ActivityOut:
        return cls(
            id=row.id,
            org_id=row.org_id,
            title=row.title,
            theme=row.theme,
            description=row.description,
            place=row.place,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            audience_org_ids=row.audience_org_ids,
            capacity=row.capacity,
            signup_deadline=row.signup_deadline,
            signups=row.signups,
            places_left=None if row.capacity is None else row.capacity - row.signups,
            notifications=FanOutOut.of(row),
            summary=None
            if row.summarised_at is None
            else SummaryOut(
                text=row.summary,
                photo_document_ids=row.summary_photo_ids or [],
                written_at=row.summarised_at,
            ),
            signed_up=bool(getattr(row, "signed_up", False)),
        )


@router.post(
    "/orgs/{org_id}/activities",
    status_code=201,
    response_model=ActivityOut,
    openapi_extra=route_policy(org_param="org_id"),
)
async def publish(
    org_id: uuid.UUID, body: ActivityIn, session: SessionDep, caller: CallerDep
) -> ActivityOut:
    """Publishes an activity (发布活动): every member of the audience gets a notification,
    written after the answer in chunks; follow `notifications` on GET /activities/{id}."""
    new = NewActivity(**body.model_dump())
    async with session.begin():
        activity_id = await activities.publish(session, caller, org_id, new, _now())
        found = await activities.visible(session, caller, activity_id)
    return ActivityOut.of(found)


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None


@router.get(
    "/orgs/{org_id}/activities",
    response_model=ActivityPage,
    openapi_extra=route_policy(org_param="org_id", allow="admin_or_member"),
)
async def list_activities(
    org_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    starts_from: AwareDatetime | None = Query(None, alias="from"),
    starts_before: AwareDatetime | None = Query(None, alias="to"),
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> ActivityPage:
    """An organisation's activities, latest first: for admins over it and its members."""
    after = read_cursor(
        cursor, lambda p: (datetime.fromisoformat(str(p["at"])), uuid.UUID(str(p["id"])))
    )
    found, next_cursor = page_of(
        await activities.of_org(
            session,
            caller,
            org_id,
            starts_from=starts_from,
            starts_before=starts_before,
            after=after,
            limit=limit + 1,
        ),
        limit,
        lambda a: {"at": a.starts_at.isoformat(), "id": str(a.id)},
    )
    return ActivityPage(items=[ActivityOut.of(a) for a in found], next_cursor=next_cursor)


@router.get(
    "/activities/{activity_id}",
    response_model=ActivityOut,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def read_activity(
    activity_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep
) -> ActivityOut:
    """For admins over its organisation and the members of its audience."""
    return ActivityOut.of(await activities.visible(session, caller, activity_id))


class SignupOut(BaseModel):
    activity_id: uuid.UUID
    member_id: uuid.UUID
    signed_up_at: datetime


@router.post(
    "/activities/{activity_id}/signups",
    status_code=201,
    response_model=SignupOut,
    openapi_extra=route_policy(allow="admin_or_member"),
    # activity.full, activity.closed, activity.already_signed_up
    responses=problems(409),
)
async def sign_up(activity_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> SignupOut:
    """A member of the audience signs up (报名), while places are left and before sign-up
    closes."""
    async with session.begin():
        at = await activities.sign_up(session, caller, activity_id, _now())
    assert caller.member_id is not None
    return SignupOut(activity_id=activity_id, member_id=caller.member_id, signed_up_at=at)


@router.delete(
    "/activities/{activity_id}/signups/me",
    status_code=204,
    openapi_extra=route_policy(allow="admin_or_member"),
    responses=problems(409),  # activity.closed
)
async def cancel_signup(activity_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Response:
    """The member takes back the sign-up (取消报名) before the activity starts."""
    async with session.begin():
        await activities.cancel_signup(session, caller, activity_id, _now())
    return Response(status_code=204)


class SignupListed(BaseModel):
    member_id: uuid.UUID
    member_name: str | None
    branch_id: uuid.UUID | None
    signed_up_at: datetime


class SignupPage(BaseModel):
    items: list[SignupListed]
    next_cursor: str | None


@router.get(
    "/activities/{activity_id}/signups",
    response_model=SignupPage,
    openapi_extra=route_policy(),
)
async def list_signups(
    activity_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    limit: LimitQuery = 100,
    cursor: str | None = None,
) -> SignupPage:
    """Who signed up, first come first: for admins over the activity's organisation."""
    after = read_cursor(
        cursor, lambda p: (datetime.fromisoformat(str(p["at"])), uuid.UUID(str(p["member"])))
    )
    found, next_cursor = page_of(
        await activities.signups(session, caller, activity_id, after, limit + 1),
        limit,
        lambda s: {"at": s.signed_up_at.isoformat(), "member": str(s.member_id)},
    )
    return SignupPage(
        items=[SignupListed.model_validate(s, from_attributes=True) for s in found],
        next_cursor=next_cursor,
    )


class SummaryIn(BaseModel):
    text: NonBlank = Field(max_length=20_000, description="活动总结")
    photo_document_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="活动照片: documents uploaded as images"
    )


@router.put(
    "/activities/{activity_id}/summary",
    response_model=ActivityOut,
    openapi_extra=route_policy(),
    # activity.not_over; activity.photo_not_found, activity.photo_not_image (422)
    responses=problems(409),
)
async def write_summary(
    activity_id: uuid.UUID,
    body: SummaryIn,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
) -> ActivityOut:
    """The organisation's admin writes what happened, with photos (uploaded with POST
    /documents; JPEG or PNG), after the activity ends."""
    settings = app_settings(request, ActivitiesSettings)
    check = partial(photos.check_images, settings.org_url, settings.platform.internal_secret)
    async with session.begin():
        written = await activities.write_summary(
            session, caller, activity_id, body.text, body.photo_document_ids, _now(), check
        )
    return ActivityOut.of(written)


# --- the notification inbox -------------------------------------------------------------------


class NotificationOut(BaseModel):
    id: int
    kind: str = Field(description="the source: activity.published, transfer.completed, …")
    title: str
    body: str
    link: dict[str, str] = Field(description="what it is about: activity_id, transfer_id, month")
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
    unread: int = Field(description="unread notifications in the whole inbox")


class UnreadOut(BaseModel):
    unread: int


@router.get(
    "/me/notifications",
    response_model=NotificationPage,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def my_notifications(
    session: ReadSessionDep,
    caller: CallerDep,
    unread: bool = Query(False, description="only the unread ones"),
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> NotificationPage:
    """Your notifications (消息通知), newest first: a member's own, an admin's organisation's."""
    before = read_cursor(cursor, lambda p: int(p["id"]))
    found, next_cursor = page_of(
        await notifications.inbox(
            session, caller, unread_only=unread, before=before, limit=limit + 1
        ),
        limit,
        lambda n: {"id": n.id},
    )
    return NotificationPage(
        items=[NotificationOut.model_validate(n, from_attributes=True) for n in found],
        next_cursor=next_cursor,
        unread=await notifications.unread_count(session, caller),
    )


@router.get(
    "/me/notifications/unread-count",
    response_model=UnreadOut,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def my_unread_count(session: ReadSessionDep, caller: CallerDep) -> UnreadOut:
    """How many of your notifications are unread (未读): the badge a console shows."""
    return UnreadOut(unread=await notifications.unread_count(session, caller))


@router.post(
    "/notifications/{notification_id}/read",
    status_code=204,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def read_notification(
    session: SessionDep,
    caller: CallerDep,
    notification_id: int = Path(ge=1, le=2**63 - 1),
) -> Response:
    async with session.begin():
        await notifications.mark_read(session, caller, notification_id)
    return Response(status_code=204)


@router.post(
    "/me/notifications/read-all",
    status_code=204,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def read_all(session: SessionDep, caller: CallerDep) -> Response:
    """Marks every notification of your inbox read (全部已读)."""
    async with session.begin():
        await notifications.mark_all_read(session, caller)
    return Response(status_code=204)


# --- announcements and maintenance windows ----------------------------------------------------


class AnnouncementIn(BaseModel):
    title: NonBlank = Field(max_length=200)
    body: NonBlank = Field(max_length=5000)
    kind: Literal["notice", "maintenance"]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    read_only: bool = Field(
        default=False,
        description="maintenance only, by the province's committee: during the window the "
        "gateway answers every write (but login) with 503 system.maintenance",
    )


class AnnouncementOut(BaseModel):
    id: uuid.UUID
    org_id: uuid.UUID
    kind: str
    title: str
    body: str
    starts_at: datetime
    ends_at: datetime
    read_only: bool
    withdrawn_at: datetime | None
    notifications: FanOutOut

    @classmethod
    def of(cls, row: Any) -> AnnouncementOut:
        return cls(
            id=row.id,
            org_id=row.org_id,
            kind=row.kind,
            title=row.title,
            body=row.body,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            read_only=row.read_only,
            withdrawn_at=row.withdrawn_at,
            notifications=FanOutOut.of(row),
        )


class AnnouncementList(BaseModel):
    items: list[AnnouncementOut]


@router.post(
    "/announcements",
    status_code=201,
    response_model=AnnouncementOut,
    openapi_extra=route_policy(),
    responses=problems(404),  # org.not_found: your organisation is not known here yet
)
async def publish_announcement(
    body: AnnouncementIn, session: SessionDep, caller: CallerDep
) -> AnnouncementOut:
    """A notice or a maintenance window (系统公告 / 系统维护通知) for your organisation's
    subtree: every member and organisation in it is notified (the root's: everyone)."""
    new = announcements.NewAnnouncement(**body.model_dump())
    async with session.begin():
        published = await announcements.publish(session, caller, new, _now())
    return AnnouncementOut.of(published)


@router.post(
    "/announcements/{announcement_id}/withdraw",
    response_model=AnnouncementOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # announcement.not_current
)
async def withdraw_announcement(
    announcement_id: uuid.UUID, session: SessionDep, caller: CallerDep
) -> AnnouncementOut:
    """Takes an announcement back before its end; a read-only window stops at once (the
    gateway lets this through during the window, so that it can be ended)."""
    async with session.begin():
        withdrawn = await announcements.withdraw(session, caller, announcement_id, _now())
    return AnnouncementOut.of(withdrawn)


@router.get(
    "/announcements/active",
    response_model=AnnouncementList,
    openapi_extra=route_policy(public=True),
)
async def active_announcements(
    session: ReadSessionDep, caller: OptionalCallerDep
) -> AnnouncementList:
    """Announcements not over yet, maintenance ahead included, soonest first: the province's
    for anyone; with a token, also those of the organisations above you."""
    found = await announcements.current(session, caller, _now())
    return AnnouncementList(items=[AnnouncementOut.of(a) for a in found])


class WindowOut(BaseModel):
    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


class WindowList(BaseModel):
    items: list[WindowOut]


@internal.get("/maintenance-windows", response_model=WindowList)
async def maintenance_windows(session: ReadSessionDep, caller: CallerDep) -> WindowList:
    """Read-only windows not over: the gateway starts from these, then follows events."""
    if not caller.is_system:
        raise Problem(403, "auth.system_only", "Internal route.")
    found = await announcements.windows(session, _now())
    return WindowList(items=[WindowOut.model_validate(w, from_attributes=True) for w in found])


# --- statistics -------------------------------------------------------------------------------


class FiguresOut(BaseModel):
    org_id: uuid.UUID
    activities: int = Field(description="activities that started in the year")
    signups: int
    invited: int = Field(description="members notified of them")
    participation_rate: float | None = Field(description="sign-ups / invited; none if no one was")
    unsummarised: int = Field(description="ended over 7 days ago without a summary")

    @classmethod
    def of(cls, f: statistics.Figures) -> FiguresOut:
        return cls(
            org_id=f.org_id,
            activities=f.activities,
            signups=f.signups,
            invited=f.invited,
            participation_rate=f.participation_rate,
            unsummarised=f.unsummarised,
        )


class StatisticsOut(FiguresOut):
    year: int
    children: list[FiguresOut]


@router.get(
    "/orgs/{org_id}/activity-statistics",
    response_model=StatisticsOut,
    openapi_extra=route_policy(org_param="org_id"),
)
async def activity_statistics(
    org_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    year: int = Query(ge=2000, le=2100),
) -> StatisticsOut:
    """A year's activities over an organisation's subtree (its whole year in Beijing time),
    with each direct child's figures: for admins over it, and the assessment (system)."""
    node = await replica_node_in_scope(session, caller, org_id)
    start = datetime(year, 1, 1, tzinfo=BEIJING)
    end = datetime(year + 1, 1, 1, tzinfo=BEIJING)
    total, children = await statistics.of_subtree(session, node, start, end, _now())
    return StatisticsOut(
        **FiguresOut.of(total).model_dump(),
        year=year,
        children=[FiguresOut.of(c) for c in children],
    )


ACTIVITY_STATISTICS_SHEET = (
    Figure("活动数", "activities"),
    Figure("报名人次", "signups"),
    Figure("通知人数", "invited"),
    Figure("参与率", "participation_rate", show=percent),
    Figure("未按时总结活动数", "unsummarised"),
)


@router.get(
    "/orgs/{org_id}/activity-statistics/export",
    openapi_extra=route_policy(org_param="org_id"),
    responses=xlsx_answer("活动统计.xlsx"),
)
async def export_activity_statistics(
    org_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    caller: CallerDep,
    year: int = Query(ge=2000, le=2100),
) -> Response:
    """The year's activity statistics as .xlsx: the subtree's row (合计), then each direct
    child's."""
    shown = await activity_statistics(org_id, session, caller, year)
    return await report_export(
        request,
        caller,
        "activity_statistics",
        f"{year}年活动统计",
        shown.model_dump(mode="json"),
        ACTIVITY_STATISTICS_SHEET,
    )


add_assessment_route(
    internal,
    "activity-summaries",
    statistics.summary_share,
    "Activities of the year ended over a week ago that have their summary, over those ended",
)
