"""HTTP routes of the org service: parse, authorize, call a use case, shape the answer."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from functools import partial
from typing import Annotated, Literal
from urllib.parse import quote

import asyncpg
from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select

from org import reads as org_reads
from org import service
from org.db import Document, Org
from org.service import NewOrg
from org.settings import OrgSettings
from org.storage import DocumentStorage
from shared.calendar import WorkingDayCalendar, beijing_today
from shared.contract import problems
from shared.http import (
    CallerDep,
    Day,
    LimitQuery,
    NonBlank,
    ReadsDep,
    ReadSessionDep,
    SessionDep,
    app_resource,
    app_settings,
    page_of,
    read_cursor,
    route_policy,
)
from shared.lane import fast_lane
from shared.orgtree import require_admin_over
from shared.problems import Problem

router = APIRouter()
internal = APIRouter(prefix="/internal", include_in_schema=False)

Phone = Annotated[str, Field(pattern=r"^[0-9+\- ]{7,20}$", description="mobile or landline")]


class OrgCreate(BaseModel):
    parent_id: uuid.UUID
    name: NonBlank = Field(min_length=1, max_length=100)
    type: Literal["committee", "working_committee", "general_branch", "branch"]
    founded_on: Day
    approved_on: Day
    leader_name: NonBlank = Field(min_length=1, max_length=50)
    leader_phone: Phone
    approval_document_id: uuid.UUID


class OrgPatch(BaseModel):
    name: NonBlank | None = Field(default=None, min_length=1, max_length=100)
    leader_name: NonBlank | None = Field(default=None, min_length=1, max_length=50)
    leader_phone: Phone | None = None


class Dissolution(BaseModel):
    decided_on: Day
    reason: NonBlank = Field(min_length=1, max_length=1000)


class OrgOut(BaseModel):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    path: list[uuid.UUID]
    name: str
    type: str
    status: str
    founded_on: date
    approved_on: date
    created_late: bool
    member_count: int
    leader_name: str | None
    leader_phone: str | None
    approval_document_id: uuid.UUID | None
    dissolution_due_by: date | None
    dissolution_late: bool = Field(
        default=False, description="recorded more than 15 working days after it was decided"
    )
    created_at: datetime

    @classmethod
    def of(cls, org: Org | asyncpg.Record) -> OrgOut:
        """From the mapped object, or from a row of the orgs table (org.reads)."""
        get = org.__getitem__ if isinstance(org, asyncpg.Record) else partial(getattr, org)
        return cls(
            id=get("id"),
            parent_id=get("parent_id"),
            path=list(get("path")),
            name=get("name"),
            type=get("org_type"),
            status=get("status"),
            founded_on=get("founded_on"),
            approved_on=get("approved_on"),
            created_late=get("created_late"),
            member_count=get("member_count"),
            leader_name=get("leader_name"),
            leader_phone=get("leader_phone"),
            approval_document_id=get("approval_document_id"),
            dissolution_due_by=get("dissolution_due_by"),
            dissolution_late=get("dissolution_late"),
            created_at=get("created_at"),
        )


class OrgPage(BaseModel):
    items: list[OrgOut]
    next_cursor: str | None


class DocumentOut(BaseModel):
    id: uuid.UUID
    sha256: str
    size: int
    content_type: str

    @classmethod
    def of(cls, d: Document) -> DocumentOut:
        return cls(id=d.id, sha256=d.sha256, size=d.size, content_type=d.content_type)


class NodeOut(BaseModel):
    """The slice of an organisation other services keep a copy of (see shared.orgtree)."""

    id: uuid.UUID
    parent_id: uuid.UUID | None
    path: list[uuid.UUID]
    name: str
    org_type: str
    status: str
    revision: int

    @classmethod
    def of(cls, org: Org) -> NodeOut:
        return cls(
            id=org.id,
            parent_id=org.parent_id,
            path=list(org.path),
            name=org.name,
            org_type=org.org_type,
            status=org.status,
            revision=org.revision,
        )


@router.post(
    "/orgs",
    status_code=201,
    response_model=OrgOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # org.parent_inactive, org.duplicate_name
)
async def create_org(
    body: OrgCreate, request: Request, session: SessionDep, caller: CallerDep
) -> OrgOut:
    new = NewOrg(
        parent_id=body.parent_id,
        name=body.name,
        org_type=body.type,
        founded_on=body.founded_on,
        approved_on=body.approved_on,
        leader_name=body.leader_name,
        leader_phone=body.leader_phone,
        approval_document_id=body.approval_document_id,
    )
    async with session.begin():
        org = await service.create_org(
            session,
            caller,
            new,
            today=beijing_today(),
            calendar=app_resource(request, "calendar", WorkingDayCalendar),
            settings=app_settings(request, OrgSettings),
        )
    return OrgOut.of(org)


@router.get(
    "/orgs/{org_id}",
    response_model=OrgOut,
    openapi_extra=route_policy(org_param="org_id", allow="admin_or_member"),
)
@fast_lane  # what every screen reads
async def read_org(org_id: uuid.UUID, reads: ReadsDep, caller: CallerDep) -> OrgOut:
    return OrgOut.of(await org_reads.viewable_org(reads, caller, org_id))


@router.get(
    "/orgs/{org_id}/children",
    response_model=OrgPage,
    openapi_extra=route_policy(org_param="org_id", allow="admin_or_member"),
)
async def list_children(
    org_id: uuid.UUID,
    reads: ReadsDep,
    caller: CallerDep,
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> OrgPage:
    await org_reads.viewable_org(reads, caller, org_id)
    after = read_cursor(cursor, lambda p: (str(p["name"]), uuid.UUID(str(p["id"]))))
    children, next_cursor = page_of(
        await org_reads.children(reads, org_id, after, limit + 1),
        limit,
        lambda c: {"name": c["name"], "id": str(c["id"])},
    )
    return OrgPage(items=[OrgOut.of(c) for c in children], next_cursor=next_cursor)


@router.get(
    "/orgs/{org_id}/search",
    response_model=OrgPage,
    openapi_extra=route_policy(org_param="org_id"),
)
async def search_subtree(
    org_id: uuid.UUID,
    reads: ReadsDep,
    caller: CallerDep,
    q: str = Query(min_length=1, max_length=100, description="a part of the name"),
    limit: LimitQuery = 50,
) -> OrgPage:
    """Organisations of the subtree whose name holds `q`, the highest first (the console's tree
    search: a province's organisations are too many to open level by level)."""
    org = await org_reads.viewable_org(reads, caller, org_id)
    require_admin_over(caller, org["path"])
    found = await org_reads.search(reads, org_id, q.strip(), limit)
    return OrgPage(items=[OrgOut.of(o) for o in found], next_cursor=None)


@router.patch(
    "/orgs/{org_id}",
    response_model=OrgOut,
    openapi_extra=route_policy(org_param="org_id"),
    responses=problems(409),  # org.dissolved, org.duplicate_name
)
async def patch_org(
    org_id: uuid.UUID, body: OrgPatch, session: SessionDep, caller: CallerDep
) -> OrgOut:
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise Problem(
            422,
            "request.invalid",
            "Fields cannot be cleared.",
            errors=[
                {"field": k, "message": "must not be null"} for k, v in changes.items() if v is None
            ],
        )
    async with session.begin():
        org = await service.update_org(session, caller, org_id, changes)
    return OrgOut.of(org)


@router.post(
    "/orgs/{org_id}/dissolution",
    status_code=202,
    response_model=OrgOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # org.already_dissolved, org.not_empty
)
async def dissolve_org(
    org_id: uuid.UUID, body: Dissolution, request: Request, session: SessionDep, caller: CallerDep
) -> OrgOut:
    # The gateway cannot check "admin over the parent" from the path; the use case does.
    async with session.begin():
        org = await service.dissolve_org(
            session,
            caller,
            org_id,
            body.decided_on,
            body.reason,
            calendar=app_resource(request, "calendar", WorkingDayCalendar),
            settings=app_settings(request, OrgSettings),
            today=beijing_today(),
        )
    return OrgOut.of(org)


@router.post(
    "/documents",
    status_code=201,
    response_model=DocumentOut,
    openapi_extra=route_policy(),
    responses=problems(413, 415),  # over 10 MB; not a PDF, JPEG or PNG by its content
)
async def upload_document(
    request: Request, session: SessionDep, caller: CallerDep, file: Annotated[UploadFile, File()]
) -> DocumentOut:
    if not caller.is_admin:
        raise Problem(403, "auth.admin_only", "Only admins upload documents.")
    limit = app_settings(request, OrgSettings).max_document_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise Problem(
            413, "document.too_large", f"A document may be at most {limit // (1024 * 1024)} MB."
        )
    async with session.begin():
        document = await service.store_document(
            session,
            caller,
            content,
            file.filename,
            app_resource(request, "storage", DocumentStorage),
        )
    return DocumentOut.of(document)


# --- internal: for other services and the gateway, never routed by the gateway ----------------


def _require_system(caller: CallerDep) -> None:
    if not caller.is_system:
        raise Problem(403, "auth.system_only", "Internal route.")


class RootIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class NodePage(BaseModel):
    items: list[NodeOut]
    next_cursor: str | None = None


@internal.post("/orgs/root", response_model=NodeOut)
async def create_root(body: RootIn, session: SessionDep, caller: CallerDep) -> NodeOut:
    _require_system(caller)
    async with session.begin():
        org, _ = await service.create_root(session, body.name, beijing_today())
    return NodeOut.of(org)


@internal.get("/orgs", response_model=NodePage)
async def all_nodes(
    session: ReadSessionDep,
    caller: CallerDep,
    cursor: Annotated[
        uuid.UUID | None, Query(description="the last id of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 20_000,
) -> NodePage:
    """Every organisation, in pages by id: the snapshot other services start their copy from."""
    _require_system(caller)
    stmt = select(Org).order_by(Org.id).limit(limit)
    if cursor is not None:
        stmt = stmt.where(Org.id > cursor)
    found = list((await session.execute(stmt)).scalars())
    return NodePage(
        items=[NodeOut.of(o) for o in found],
        next_cursor=str(found[-1].id) if len(found) == limit else None,
    )


@internal.get("/orgs/{org_id}", response_model=NodeOut)
async def one_node(org_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep) -> NodeOut:
    _require_system(caller)
    return NodeOut.of(await service.get_org(session, org_id))


class DocumentPage(BaseModel):
    items: list[DocumentOut]


@router.get(
    "/documents/{document_id}",
    openapi_extra=route_policy(),
    responses={
        200: {
            "content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}},
            "description": "the document as it was uploaded",
        }
    },
)
async def read_document(
    document_id: uuid.UUID, request: Request, session: ReadSessionDep, caller: CallerDep
) -> Response:
    """A stored document (an approval, an application form, an activity's photo), for the
    admins over the organisation it was uploaded from or over one it approved."""
    document, content = await service.read_document(
        session, caller, document_id, app_resource(request, "storage", DocumentStorage)
    )
    name = quote(document.original_name or f"{document.id}")
    return Response(
        content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{name}",
            # Stored once and never changed: a browser may keep it for the session.
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )


@internal.get("/documents", response_model=DocumentPage)
async def documents(
    session: ReadSessionDep,
    caller: CallerDep,
    ids: Annotated[list[uuid.UUID], Query(max_length=100)],
) -> DocumentPage:
    """What other services need to know of documents they refer to (an activity's photos are
    images): the known ones among `ids`, unknown ones left out."""
    _require_system(caller)
    found = await session.scalars(select(Document).where(Document.id.in_(ids)))
    return DocumentPage(items=[DocumentOut.of(d) for d in found])


class ContactOut(BaseModel):
    org_id: uuid.UUID
    phone: str | None


@internal.get("/orgs/{org_id}/contact", response_model=ContactOut)
async def org_contact(org_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep) -> ContactOut:
    """The organisation leader's phone number, for SMS notices (activities: maintenance):
    personal data, so never in events; asked one message at a time and never logged."""
    _require_system(caller)
    found = (await session.execute(select(Org.leader_phone).where(Org.id == org_id))).first()
    if found is None:
        raise Problem(404, "org.not_found", "No such organisation.")
    return ContactOut(org_id=org_id, phone=found.leader_phone)
