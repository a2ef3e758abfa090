"""A statistics report (统计报表) as an .xlsx: one row for the subtree's total (合计), then one
per direct child, a column per figure; a breakdown (members by gender, organisations by type)
spreads over one column per value, headed in Chinese. Every report route that has a total and
children exports through this, so they all read alike in a spreadsheet.

An export is recorded in the audit log like a reveal (who took which subtree's figures when).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.audit import audit
from shared.caller import Caller
from shared.xlsx import XLSX, attachment, whole

TOTAL = "合计"
ORG_TYPES = {
    "committee": "团委",
    "working_committee": "团工委",
    "general_branch": "团总支",
    "branch": "团支部",
}
ORG_STATUSES = {"active": "正常", "dissolving": "撤销中", "dissolved": "已撤销"}


@dataclass(frozen=True)
class Figure:
    """A column of the sheet: `key` in the report; with `labels` a breakdown (a mapping in the
    report), one column per value — the labelled ones in their order, then any other the total
    has, by name — headed `header：label`."""

    header: str
    key: str
    labels: Mapping[str, str] | None = None
    show: Callable[[Any], object] = field(default=lambda v: "" if v is None else v)


def percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.2%}"


Row = Mapping[str, Any]
Column = tuple[str, Callable[[Row], object]]


def _figure(f: Figure) -> Column:
    def value(row: Row) -> object:
        return f.show(row.get(f.key))

    return f.header, value


def _breakdown(f: Figure, labels: Mapping[str, str], key: str) -> Column:
    def value(row: Row) -> object:
        return (row.get(f.key) or {}).get(key, 0)

    return f"{f.header}：{labels.get(key, key)}", value


def _columns(total: Row, figures: Sequence[Figure]) -> list[Column]:
    columns: list[Column] = []
    for f in figures:
        if f.labels is None:
            columns.append(_figure(f))
            continue
        present = total.get(f.key) or {}
        values = [*f.labels, *sorted(k for k in present if k not in f.labels)]
        columns += [_breakdown(f, f.labels, v) for v in values]
    return columns


def report_rows(
    report: Mapping[str, Any], figures: Sequence[Figure], names: Mapping[str, str]
) -> tuple[list[str], list[list[object]]]:
    """The headers and rows of `report` (a total with `children`, each with its `org_id`): the
    total, then the children in the order of their names."""
    columns = _columns(report, figures)
    headers = ["组织", *(header for header, _ in columns)]
    rows = [[TOTAL, *(value(report) for _, value in columns)]]
    children = [
        [names.get(str(c["org_id"]), str(c["org_id"])), *(value(c) for _, value in columns)]
        for c in report.get("children", ())
    ]
    rows += sorted(children, key=lambda row: str(row[0]))
    return headers, rows


async def replica_names(session: AsyncSession, ids: Iterable[object]) -> dict[str, str]:
    """Names of organisations from the service's copy of the tree."""
    wanted = [uuid.UUID(str(i)) for i in ids]
    if not wanted:
        return {}
    found = await session.execute(
        text("SELECT id, name FROM org_replica WHERE id = ANY(:ids)"), {"ids": wanted}
    )
    return {str(r.id): r.name for r in found}


async def audit_export(
    request: Request, caller: Caller, kind: str, org_id: object, names_of: Iterable[object] = ()
) -> dict[str, str]:
    """Record `export.<kind>` of `org_id`'s subtree in the audit log (its own transaction: the
    report itself was read outside one), and read the names of `names_of` on the way."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session, session.begin():
        names = await replica_names(session, names_of)
        await audit(session, caller, f"export.{kind}", "org", org_id)
    return names


async def report_export(
    request: Request,
    caller: Caller,
    kind: str,
    title: str,
    report: Mapping[str, Any],
    figures: Sequence[Figure],
    names: Mapping[str, str] | None = None,
) -> Response:
    """`report` as `title.xlsx`, audited as `export.<kind>` on the report's organisation.
    Without `names`, the children's are read from the org replica."""
    children = [c["org_id"] for c in report.get("children", ())]
    found = await audit_export(request, caller, kind, report["org_id"], () if names else children)
    headers, rows = report_rows(report, figures, names or found)
    return Response(
        whole(title, headers, rows), media_type=XLSX, headers=attachment(f"{title}.xlsx")
    )


def xlsx_answer(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of an export route."""
    return {200: {"content": {XLSX: {}}, "description": description}}
