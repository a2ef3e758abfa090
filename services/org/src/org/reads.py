"""The organisation reads every screen makes (an organisation, its children), on the driver
without the ORM (shared.reads): the gateway's permission checks and every page of the console
start with one of them."""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import array

from org.db import Org
from org.service import not_found, out_of_scope
from shared.caller import Caller
from shared.db import keyset_after
from shared.orgtree import is_admin_over, is_member_inside
from shared.reads import Query, Reads

ORGS = Org.__table__
_ORG = Query.of(select(ORGS).where(ORGS.c.id == bindparam("org_id")))
_PATH = Query.of(select(ORGS.c.path).where(ORGS.c.id == bindparam("org_id")))
_CHILDREN = select(ORGS).where(ORGS.c.parent_id == bindparam("org_id"))
_CHILDREN_ORDER = (ORGS.c.name, ORGS.c.id)
_FIRST_CHILDREN = Query.of(_CHILDREN.order_by(*_CHILDREN_ORDER).limit(bindparam("limit")))
_NEXT_CHILDREN = Query.of(
    _CHILDREN.where(keyset_after(_CHILDREN_ORDER, [bindparam("name"), bindparam("id")]))
    .order_by(*_CHILDREN_ORDER)
    .limit(bindparam("limit"))
)


# By depth, then name: a county named like the query comes before the branches under it.
_SEARCH = Query.of(
    select(ORGS)
    .where(
        ORGS.c.path.contains(array([bindparam("org_id", type_=ORGS.c.id.type)])),
        ORGS.c.name.ilike(bindparam("pattern"), escape="!"),
    )
    .order_by(func.cardinality(ORGS.c.path), ORGS.c.name, ORGS.c.id)
    .limit(bindparam("limit"))
)


def _contains(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its own % and _ taken literally."""
    # "!" escapes: a backslash would be doubled on its way into the statement's text.
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


async def search(reads: Reads, org_id: uuid.UUID, text: str, limit: int) -> list[asyncpg.Record]:
    """Up to `limit` organisations of the subtree (itself included) whose name holds `text`."""
    return await reads.rows(_SEARCH, org_id=org_id, pattern=_contains(text), limit=limit)


async def viewable_org(reads: Reads, caller: Caller, org_id: uuid.UUID) -> asyncpg.Record:
    """The organisation, for admins over it and members whose branch lies inside it."""
    org = await reads.row(_ORG, org_id=org_id)
    if org is None:
        raise not_found()
    if is_admin_over(caller, org["path"]):
        return org
    if caller.role == "member" and caller.org_id is not None:
        branch = await reads.row(_PATH, org_id=caller.org_id)
        if is_member_inside(caller, org["id"], branch["path"] if branch else []):
            return org
    raise out_of_scope()


async def children(
    reads: Reads, org_id: uuid.UUID, after: tuple[str, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` children by name, after the keyset position `after`."""
    if after is None:
        return await reads.rows(_FIRST_CHILDREN, org_id=org_id, limit=limit)
    name, last_id = after
    return await reads.rows(_NEXT_CHILDREN, org_id=org_id, name=name, id=last_id, limit=limit)
