"""Use cases of the org service: one transaction each, state change and outbox rows together."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TypedDict, cast

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from org.db import Document, Org
from org.domain.rules import (
    Occupancy,
    can_have_children,
    creation_is_late,
    dissolution_due_by,
    sniff_content_type,
)
from org.settings import OrgSettings
from org.storage import DocumentStorage
from shared.calendar import WorkingDayCalendar
from shared.caller import Caller
from shared.db import conflict_on_duplicate
from shared.events import OrgCreated, OrgDissolved, OrgStatus, OrgType, OrgUpdated
from shared.orgtree import is_admin_over, require_admin_over
from shared.outbox import record_event
from shared.problems import Problem

PRODUCER = "org"


@dataclass(frozen=True)
class NewOrg:
    parent_id: uuid.UUID
    name: str
    org_type: str
    founded_on: date
    approved_on: date
    leader_name: str
    leader_phone: str
    approval_document_id: uuid.UUID


class _SnapshotFields(TypedDict):
    org_id: uuid.UUID
    parent_id: uuid.UUID | None
    path: list[uuid.UUID]
    name: str
    org_type: OrgType
    status: OrgStatus
    revision: int


def _snapshot(org: Org) -> _SnapshotFields:
    return {
        "org_id": org.id,
        "parent_id": org.parent_id,
        "path": list(org.path),
        "name": org.name,
        "org_type": cast(OrgType, org.org_type),
        "status": cast(OrgStatus, org.status),
        "revision": org.revision,
    }


DUPLICATE_NAME = ("org.duplicate_name", "The parent already has an organisation of this name.")


def not_found() -> Problem:
    return Problem(404, "org.not_found", "No such organisation.")


def out_of_scope() -> Problem:
    return Problem(403, "auth.out_of_scope", "This organisation is outside your responsibility.")


async def get_org(session: AsyncSession, org_id: uuid.UUID, *, lock: bool = False) -> Org:
    stmt = select(Org).where(Org.id == org_id)
    if lock:
        stmt = stmt.with_for_update()
    org = (await session.execute(stmt)).scalar_one_or_none()
    if org is None:
        raise not_found()
    return org


def check_admin_over(caller: Caller, org: Org) -> None:
    require_admin_over(caller, org.path)


async def create_org(
    session: AsyncSession,
    caller: Caller,
    new: NewOrg,
    *,
    today: date,
    calendar: WorkingDayCalendar,
    settings: OrgSettings,
) -> Org:
    parent = (
        await session.execute(select(Org).where(Org.id == new.parent_id).with_for_update())
    ).scalar_one_or_none()
    if parent is None:
        raise Problem(
            422,
            "org.parent_not_found",
            "The parent organisation does not exist.",
            errors=[{"field": "parent_id", "message": "no such organisation"}],
        )
    check_admin_over(caller, parent)
    if not can_have_children(parent.org_type):
        raise Problem(
            422, "org.parent_is_branch", "A branch (团支部) cannot have child organisations."
        )
    if parent.status != "active":
        raise Problem(409, "org.parent_inactive", "The parent organisation is being dissolved.")
    for field, value in (("founded_on", new.founded_on), ("approved_on", new.approved_on)):
        if value > today:
            raise Problem(
                422,
                "org.date_in_future",
                f"{field} lies in the future.",
                errors=[{"field": field, "message": "must not be in the future"}],
            )
    document = await session.get(Document, new.approval_document_id)
    if document is None:
        raise Problem(
            422,
            "org.document_not_found",
            "The approval document was not uploaded.",
            errors=[{"field": "approval_document_id", "message": "no such document"}],
        )
    org_id = uuid.uuid4()
    org = Org(
        id=org_id,
        parent_id=parent.id,
        path=[*parent.path, org_id],
        name=new.name.strip(),
        org_type=new.org_type,
        status="active",
        founded_on=new.founded_on,
        approved_on=new.approved_on,
        created_late=creation_is_late(
            new.approved_on, today, calendar, settings.creation_deadline_working_days
        ),
        leader_name=new.leader_name,
        leader_phone=new.leader_phone,
        approval_document_id=document.id,
        member_count=0,
        revision=1,
        created_by=caller.account_id,
    )
    session.add(org)
    with conflict_on_duplicate(*DUPLICATE_NAME):
        await session.flush()
    await record_event(
        session,
        OrgCreated(
            **_snapshot(org),
            founded_on=org.founded_on,
            approved_on=org.approved_on,
            created_late=org.created_late,
        ),
        PRODUCER,
    )
    return org


async def create_root(session: AsyncSession, name: str, today: date) -> tuple[Org, bool]:
    """The provincial committee (团省委); idempotent: an existing root is returned as it is."""
    existing = (
        await session.execute(select(Org).where(Org.parent_id.is_(None)))
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    org_id = uuid.uuid4()
    org = Org(
        id=org_id,
        parent_id=None,
        path=[org_id],
        name=name,
        org_type="committee",
        status="active",
        founded_on=today,
        approved_on=today,
        created_late=False,
        member_count=0,
        revision=1,
    )
    session.add(org)
    await session.flush()
    await record_event(
        session,
        OrgCreated(**_snapshot(org), founded_on=today, approved_on=today, created_late=False),
        PRODUCER,
    )
    return org, True


async def update_org(
    session: AsyncSession, caller: Caller, org_id: uuid.UUID, changes: dict[str, str | None]
) -> Org:
    org = await get_org(session, org_id, lock=True)
    check_admin_over(caller, org)
    if org.status == "dissolved":
        raise Problem(409, "org.dissolved", "A dissolved organisation cannot be changed.")
    changed = [k for k, v in changes.items() if getattr(org, k) != v]
    if not changed:
        return org
    for key in changed:
        setattr(org, key, changes[key])
    org.revision += 1
    with conflict_on_duplicate(*DUPLICATE_NAME):
        await session.flush()
    # Phone numbers are personal data: events say which fields changed, not their values.
    await record_event(
        session, OrgUpdated(**_snapshot(org), changed_fields=sorted(changed)), PRODUCER
    )
    return org


async def occupancy(session: AsyncSession, org: Org) -> Occupancy:
    counts = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM orgs WHERE parent_id = :id AND status <> 'dissolved') "
                "AS children, (SELECT count(*) FROM incoming_transfers "
                "WHERE to_branch_id = :id AND NOT ended) AS incoming"
            ),
            {"id": org.id},
        )
    ).one()
    return Occupancy(
        members=org.member_count,
        active_children=int(counts.children),
        incoming_transfers=int(counts.incoming),
    )


async def dissolve_org(
    session: AsyncSession,
    caller: Caller,
    org_id: uuid.UUID,
    decided_on: date,
    reason: str,
    *,
    calendar: WorkingDayCalendar,
    settings: OrgSettings,
    today: date,
) -> Org:
    """Start a dissolution (撤销): the organisation is `dissolving` (no transfers in, no new
    members) until org.dissolutions has confirmed from the events that it is still empty."""
    org = await get_org(session, org_id, lock=True)
    if org.parent_id is None:
        raise Problem(422, "org.is_root", "The provincial committee cannot be dissolved.")
    parent = await get_org(session, org.parent_id)
    if not is_admin_over(caller, parent.path):
        raise Problem(
            403, "auth.out_of_scope", "Only an admin over the parent organisation can dissolve it."
        )
    if org.status != "active":
        raise Problem(409, "org.already_dissolved", f"This organisation is already {org.status}.")
    occupied = await occupancy(session, org)
    if not occupied.empty:
        raise Problem(
            409,
            "org.not_empty",
            "Transfer every member out (or record their departure), let the transfers into it "
            "end, and dissolve every child organisation first.",
            members=occupied.members,
            active_children=occupied.active_children,
            incoming_transfers=occupied.incoming_transfers,
        )
    org.status = "dissolving"
    org.dissolution_decided_on = decided_on
    org.dissolution_reason = reason
    org.dissolution_due_by = dissolution_due_by(
        decided_on, calendar, settings.dissolution_deadline_working_days
    )
    org.dissolution_late = today > org.dissolution_due_by
    org.revision += 1
    await session.flush()
    await record_event(session, OrgUpdated(**_snapshot(org), changed_fields=["status"]), PRODUCER)
    return org


async def settle_dissolutions(session: AsyncSession, org_ids: Iterable[uuid.UUID]) -> int:
    """Complete the dissolutions of these organisations that are still empty by the counts the
    events brought (members, transfers in, children): `dissolved`, `org.dissolved`. The others
    wait for the event that empties them. Returns how many completed."""
    ids = list(set(org_ids))
    if not ids:
        return 0
    done = (
        (
            await session.execute(
                select(Org)
                .where(Org.id.in_(ids), Org.status == "dissolving")
                .order_by(Org.id)  # locked in one order by every consumer
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    dissolved = []
    for org in done:  # a handful at most: dissolutions are rare
        if not (await occupancy(session, org)).empty:
            continue
        org.status = "dissolved"
        org.revision += 1
        dissolved.append(org)
    await session.flush()
    for org in dissolved:
        assert org.dissolution_decided_on is not None
        await record_event(
            session,
            OrgDissolved(**_snapshot(org), decided_on=org.dissolution_decided_on),
            PRODUCER,
        )
    return len(dissolved)


async def store_document(
    session: AsyncSession,
    caller: Caller,
    content: bytes,
    original_name: str | None,
    storage: DocumentStorage,
) -> Document:
    if not content:
        raise Problem(422, "document.empty", "The file is empty.")
    content_type = sniff_content_type(content[:16])
    if content_type is None:
        raise Problem(
            415,
            "document.unsupported_type",
            "Only PDF, JPEG and PNG files are accepted (recognised by their content).",
        )
    digest = hashlib.sha256(content).hexdigest()
    storage.put(digest, content)
    document = Document(
        id=uuid.uuid4(),
        sha256=digest,
        size=len(content),
        content_type=content_type,
        storage_key=digest,
        original_name=original_name,
        uploaded_by=caller.account_id,
        uploader_org_id=caller.org_id,
    )
    session.add(document)
    await session.flush()
    return document


async def read_document(
    session: AsyncSession, caller: Caller, document_id: uuid.UUID, storage: DocumentStorage
) -> tuple[Document, bytes]:
    """A stored document and its bytes, for the admins over the organisation it was uploaded
    from, or over one it approved; for anyone else it does not exist."""
    document = await session.get(Document, document_id)
    if document is None:
        raise document_not_found()
    paths = await session.scalars(
        select(Org.path).where(
            or_(Org.id == document.uploader_org_id, Org.approval_document_id == document_id)
        )
    )
    if not any(is_admin_over(caller, path) for path in paths):
        raise document_not_found()
    return document, storage.get(document.storage_key)


def document_not_found() -> Problem:
    return Problem(404, "document.not_found", "No such document.")
