"""Batch import (批量导入): every row validated first; any problem and nothing is written; then one
set-based insert for the whole file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from members.domain.imports import ImportProblem, map_headers, validate_numbered_rows
from members.domain.member import MemberFields
from members.protection import IdProtection
from members.service.records import find_registered, insert_members
from members.sheets import read_sheet
from shared.audit import audit
from shared.caller import Caller
from shared.orgtree import OrgNode
from shared.problems import Problem


@dataclass(frozen=True)
class ImportOutcome:
    valid_rows: int
    members: list[dict[str, Any]]  # the rows written (members.service.records.insert_members)


def problems_to_422(problems: list[ImportProblem]) -> Problem:
    return Problem(
        422,
        "member.import_invalid",
        f"{len(problems)} problem(s) in the file; nothing was imported. / 文件中有 {len(problems)} 处问题，未导入任何数据。",
        errors=[{"row": p.row, "column": p.column, "message": p.message} for p in problems],
    )


@dataclass(frozen=True)
class CheckedSheet:
    """A file read and every row validated, before any database work."""

    numbered: list[tuple[int, MemberFields]]
    problems: list[ImportProblem]
    id_column: str


def check_sheet(content: bytes, filename: str | None, today: date, max_rows: int) -> CheckedSheet:
    """Reading and validating: CPU work, run in a worker thread so the service keeps answering."""
    sheet = read_sheet(content, filename, max_rows)
    if not sheet.rows:
        raise problems_to_422([ImportProblem(1, "", "文件是空的 / The file is empty.")])
    columns, problems = map_headers(sheet.rows[0])
    if problems:
        raise problems_to_422(problems)
    numbered, problems = validate_numbered_rows(
        sheet.rows[1:], columns, today, max_rows=max_rows, date1904=sheet.date1904
    )
    return CheckedSheet(numbered, problems, columns.label("id_number"))


async def import_checked(
    session: AsyncSession,
    caller: Caller,
    branch: OrgNode,
    checked: CheckedSheet,
    protection: IdProtection,
    *,
    dry_run: bool,
) -> ImportOutcome:
    """The database part: the province-wide duplicate rule, then one set-based insert."""
    numbered, problems = checked.numbered, list(checked.problems)
    digests = [protection.digest(p.id_number) for _, p in numbered]
    registered = await find_registered(session, caller, digests)
    for r in registered:
        where = (
            "在你的管理范围内 / inside your scope"
            if r.in_scope
            else "不在你的管理范围内 / outside your scope"
        )
        problems.append(
            ImportProblem(
                numbered[r.index][0],
                checked.id_column,
                f"该身份证号已在本省登记（{where}）：请办理组织关系转接，不要重复导入 / "
                "This ID number is already registered in the province: transfer the member instead of importing again.",
            )
        )
    if problems:
        raise problems_to_422(sorted(problems, key=lambda p: (p.row, p.column)))
    if dry_run:
        return ImportOutcome(len(numbered), [])
    members = await insert_members(
        session,
        caller,
        branch,
        [p for _, p in numbered],
        protection,
        digests=digests,
        imported=True,
    )
    await audit(session, caller, "member.import", "org", branch.id)
    return ImportOutcome(len(members), members)
