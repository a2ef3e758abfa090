"""Member records: creation (one or many, set-based), reading with masked or revealed ID numbers,
listing a subtree, and edits by the member or an admin."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from members.db import Member
from members.domain.id_numbers import mask
from members.domain.member import MemberFields
from members.protection import IdProtection
from members.service import PRODUCER, path_ids, path_text
from shared.audit import audit
from shared.calendar import beijing_today
from shared.caller import Caller
from shared.db import conflict_on_duplicate, copy_rows, keyset_after
from shared.events import (
    IMPORT_CHUNK,
    Event,
    ImportedMember,
    MemberCreated,
    MembersImported,
)
from shared.orgtree import OrgNode, is_admin_over
from shared.outbox import record_events
from shared.problems import Problem


@dataclass(frozen=True)
class Registered:
    """An ID number already on record somewhere in the province."""

    index: int
    in_scope: bool


async def find_registered(
    session: AsyncSession, caller: Caller, hashes: Sequence[str]
) -> list[Registered]:
    # One array parameter: an IN list is a parameter per hash, and an import's 10,000 of them
    # cost more to render, send and parse than the lookup itself.
    wanted = bindparam("hashes", list(set(hashes)), type_=ARRAY(String))
    rows = await session.execute(
        select(Member.id_number_hash, Member.org_path).where(Member.id_number_hash == any_(wanted))
    )
    where = {r.id_number_hash: r.org_path for r in rows}
    return [
        Registered(i, is_admin_over(caller, path_ids(where[h])))
        for i, h in enumerate(hashes)
        if h in where
    ]


def duplicate_problem(registered: Registered) -> Problem:
    scope = "inside your scope" if registered.in_scope else "outside your scope"
    return Problem(
        409,
        "member.duplicate",
        f"This ID number is already registered in the province ({scope}). A member who moves "
        "changes branch by an organisation-relationship transfer, not by a new record.",
        in_scope=registered.in_scope,
        remedy="transfer",
    )


async def insert_members(
    session: AsyncSession,
    caller: Caller,
    branch: OrgNode,
    people: Sequence[MemberFields],
    protection: IdProtection,
    *,
    digests: Sequence[str],
    imported: bool,
) -> list[dict[str, Any]]:
    """Create the records in one statement, with their member.created events in one more; the
    rows written, column by column (`hobbies`, never set here, is NULL).

    The caller has checked the ID numbers are not registered, by their keyed hashes (`digests`,
    one a person, in order: computed once for the check and the rows); a concurrent import of
    the same person still fails here on the unique keyed hash, and nothing is written.
    """
    count = len(people)
    numbers = (
        (
            await session.execute(
                text("SELECT nextval('member_no_seq') FROM generate_series(1, :n)"), {"n": count}
            )
        )
        .scalars()
        .all()
    )
    year = beijing_today().year
    now = datetime.now(UTC)
    org_path = path_text(branch.path)
    rows: list[dict[str, Any]] = []
    for person, number, digest in zip(people, numbers, digests, strict=True):
        member_id = uuid.uuid4()
        rows.append(
            {
                "id": member_id,
                "member_no": f"{year}{number:08d}",
                "branch_id": branch.id,
                "org_path": org_path,
                "name": person.name,
                "gender": person.gender,
                "ethnicity": person.ethnicity,
                "birth_date": person.birth_date,
                "id_number_sealed": protection.seal(person.id_number, member_id.bytes),
                "id_number_hash": digest,
                "id_number_masked": mask(person.id_number),
                "joined_on": person.joined_on,
                "joined_place": person.joined_place,
                "phone": person.phone,
                "email": person.email,
                "employer": person.employer,
                "status": "active",
                "revision": 1,
                "created_by": caller.account_id,
                "created_at": now,
                "updated_at": now,
            }
        )
    with conflict_on_duplicate(
        "member.duplicate",
        "One of these ID numbers was registered a moment ago by someone else; nothing was imported.",
        remedy="transfer",
    ):
        # In the order of the unique keyed hash: two imports of the same people in different
        # orders then wait for one another (and the second answers 409), where each waiting
        # on a row the other wrote first deadlocked. The answer keeps the sheet's order.
        by_hash = sorted(rows, key=lambda row: str(row["id_number_hash"]))
        await copy_rows(session, Member.__tablename__, by_hash)
    await record_events(session, creation_events(branch.id, rows, imported=imported), PRODUCER)
    # The rows as written: reading 10,000 records back as ORM objects cost more than writing them.
    return rows


def creation_events(
    branch_id: uuid.UUID, rows: Sequence[dict[str, Any]], *, imported: bool
) -> list[Event]:
    """`member.created` for a member entered alone; an import's members in `member.imported`
    chunks (shared.events.MembersImported says why)."""
    members = [
        ImportedMember(
            member_id=r["id"], member_no=r["member_no"], name=r["name"], joined_on=r["joined_on"]
        )
        for r in rows
    ]
    if not imported:
        return [MemberCreated(branch_id=branch_id, **m.model_dump()) for m in members]
    return [
        MembersImported(branch_id=branch_id, members=members[start : start + IMPORT_CHUNK])
        for start in range(0, len(members), IMPORT_CHUNK)
    ]


async def create_member(
    session: AsyncSession,
    caller: Caller,
    branch: OrgNode,
    person: MemberFields,
    protection: IdProtection,
) -> Member:
    digest = protection.digest(person.id_number)
    registered = await find_registered(session, caller, [digest])
    if registered:
        raise duplicate_problem(registered[0])
    [row] = await insert_members(
        session, caller, branch, [person], protection, digests=[digest], imported=False
    )
    await audit(session, caller, "member.create", "member", row["id"])
    return await session.get_one(Member, row["id"])


async def reveal_id_number(
    session: AsyncSession, caller: Caller, member: Member, protection: IdProtection
) -> str:
    """The full ID number, for an admin over the member's branch; every reveal is audited."""
    if not is_admin_over(caller, path_ids(member.org_path)):
        raise Problem(
            403,
            "member.reveal_admin_only",
            "Only an admin over the branch may see the full ID number.",
        )
    await audit(session, caller, "member.reveal_id_number", "member", member.id)
    return protection.open(member.id_number_sealed, member.id.bytes)


@dataclass(frozen=True)
class ListPosition:
    """A place in a list of members in tree order, then by name: what its cursor holds."""

    org_path: str
    name: str
    id: uuid.UUID

    def cursor(self) -> dict[str, str]:
        return {"p": self.org_path, "n": self.name, "i": str(self.id)}

    @classmethod
    def of_cursor(cls, values: dict[str, Any]) -> ListPosition:
        return cls(str(values["p"]), str(values["n"]), uuid.UUID(str(values["i"])))


async def list_members(
    session: AsyncSession,
    org: OrgNode,
    *,
    recursive: bool,
    query: str | None,
    after: ListPosition | None,
    limit: int,
) -> list[Member]:
    """One index range of (org_path, name, id): the subtree in branch order, then by name."""
    stmt = select(Member).order_by(Member.org_path, Member.name, Member.id).limit(limit)
    if recursive:
        prefix = path_text(org.path)
        # A range instead of LIKE: '/' sorts before every character of a uuid, '0' right after it.
        stmt = stmt.where(Member.org_path >= prefix, Member.org_path < prefix[:-1] + "0")
    else:
        stmt = stmt.where(Member.branch_id == org.id)
    if query:
        q = query.strip()
        stmt = stmt.where((Member.name.startswith(q, autoescape=True)) | (Member.member_no == q))
    if after is not None:
        stmt = stmt.where(
            keyset_after(
                [Member.org_path, Member.name, Member.id], [after.org_path, after.name, after.id]
            )
        )
    return list((await session.execute(stmt)).scalars())
