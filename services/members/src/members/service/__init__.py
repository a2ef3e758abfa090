"""Use cases of the members service, by topic: records, imports, reviews, spot checks.

Every use case runs in one transaction with its outbox rows; this module holds what they share:
where a record sits in the tree and who may touch it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from members.db import Member
from shared.caller import Caller
from shared.orgtree import OrgDirectory, OrgNode, is_admin_over, require_admin_over
from shared.problems import Problem

PRODUCER = "members"


def path_text(path: tuple[uuid.UUID, ...] | list[uuid.UUID]) -> str:
    """'/root/.../org/': a subtree is every path starting with its own."""
    return "/" + "/".join(str(p) for p in path) + "/"


def path_ids(text: str) -> list[uuid.UUID]:
    return [uuid.UUID(part) for part in text.strip("/").split("/") if part]


def member_not_found() -> Problem:
    # Also for records outside the caller's scope: their existence is not revealed.
    return Problem(404, "member.not_found", "No such member.")


@dataclass(frozen=True)
class Access:
    """How the caller relates to one member record."""

    is_self: bool
    is_admin: bool


def access_to(caller: Caller, member: Member) -> Access:
    is_self = caller.member_id is not None and caller.member_id == member.id
    is_admin = is_admin_over(caller, path_ids(member.org_path))
    if not (is_self or is_admin):
        raise member_not_found()
    return Access(is_self=is_self, is_admin=is_admin)


def require_active(member: Member) -> None:
    """Records of members who left, or are moving branch, are not edited meanwhile."""
    if member.status != "active":
        raise Problem(
            409,
            "member.not_active",
            f"This record is {member.status}; it cannot be changed now.",
            member_status=member.status,
        )


async def load_member(session: AsyncSession, member_id: uuid.UUID, *, lock: bool = False) -> Member:
    stmt = select(Member).where(Member.id == member_id)
    if lock:
        stmt = stmt.with_for_update()
    member = (await session.execute(stmt)).scalar_one_or_none()
    if member is None:
        raise member_not_found()
    return member


async def org_in_scope(
    session: AsyncSession, directory: OrgDirectory, caller: Caller, org_id: uuid.UUID
) -> OrgNode:
    node = await directory.node(session, org_id)
    if node is None:
        raise Problem(404, "org.not_found", "No such organisation.")
    require_admin_over(caller, node.path)
    return node


async def branch_for_new_members(
    session: AsyncSession, directory: OrgDirectory, caller: Caller, org_id: uuid.UUID
) -> OrgNode:
    """Members belong to an active branch (团支部) only."""
    node = await org_in_scope(session, directory, caller, org_id)
    if node.org_type != "branch":
        raise Problem(
            422, "member.not_a_branch", "Members belong to branches (团支部) only; choose a branch."
        )
    if node.status != "active":
        raise Problem(
            409, "org.not_active", "This branch is being dissolved and takes no new members."
        )
    return node
