"""Members' statistics and the member list export over a subtree of their own: every figure
computed here from the records the test typed, the export read back as a secretary opens it."""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
from openpyxl import load_workbook

from members.fakes import people
from members.reports_api import EXPORT_HEADERS
from members.settings import MembersSettings
from shared.calendar import beijing_today
from shared.process import build_resources
from shared.testing import seed_branch_tree


def age_band(birth: date, today: date) -> str:
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    for label, upper in (("14-18", 18), ("19-22", 22), ("23-25", 25), ("26-28", 28)):
        if age <= upper:
            return label
    return "over_28"


def expected(records: list[dict[str, str]], today: date) -> dict[str, Any]:
    return {
        "total": len(records),
        "gender": dict(Counter("male" if r["gender"] == "男" else "female" for r in records)),
        "ethnicity": dict(Counter(r["ethnicity"] for r in records)),
        "age_band": dict(
            Counter(age_band(date.fromisoformat(r["birth_date"]), today) for r in records)
        ),
        "joined_year": dict(Counter(r["joined_on"][:4] for r in records)),
    }


async def test_statistics_and_the_export_of_a_subtree(
    client: httpx.AsyncClient, settings: MembersSettings, admin: Callable, db: Callable
) -> None:
    resources = build_resources(settings)
    try:
        tree = await seed_branch_tree(resources.sessions)
    finally:
        await resources.engine.dispose()
    typed = people(7, random.Random(1301))
    in_a, in_b = typed[:4], typed[4:]
    created = []
    for branch, records in ((tree.branch_a, in_a), (tree.branch_b, in_b)):
        for record in records:
            r = await client.post(f"/orgs/{branch}/members", json=record, headers=admin(branch))
            assert r.status_code == 201, r.text
            created.append(r.json())

    today = beijing_today()
    r = await client.get(f"/orgs/{tree.city}/member-statistics", headers=admin(tree.city))
    assert r.status_code == 200, r.text
    body = r.json()
    whole = expected(typed, today)
    assert {k: body[k] for k in whole} == whole
    children = {c["org_id"]: c for c in body["children"]}
    for county, records in ((tree.county_a, in_a), (tree.county_b, in_b)):
        want = expected(records, today)
        assert {k: children[str(county)][k] for k in want} == want
    other = await client.get(f"/orgs/{tree.city}/member-statistics", headers=admin(tree.county_a))
    assert other.status_code == 403

    # The same figures as a secretary's spreadsheet: 合计 first, then each county by name.
    sheet = await client.get(
        f"/orgs/{tree.city}/member-statistics/export", headers=admin(tree.city)
    )
    assert sheet.status_code == 200, sheet.text
    header, *lines = load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True)
    figures = {line[0]: dict(zip(header, line, strict=True)) for line in lines}
    assert sorted(figures) == sorted(["合计", "甲县委", "乙县委"])  # seed_branch_tree's names
    for who, records in (("合计", typed), ("甲县委", in_a), ("乙县委", in_b)):
        assert figures[who]["团员总数"] == str(len(records))
        assert figures[who]["性别：男"] == str(sum(r["gender"] == "男" for r in records))
        assert figures[who]["性别：女"] == str(sum(r["gender"] == "女" for r in records))
        assert figures[who]["年龄段：28岁以上"] == str(
            sum(age_band(date.fromisoformat(r["birth_date"]), today) == "over_28" for r in records)
        )

    exported = await client.get(f"/orgs/{tree.city}/members/export", headers=admin(tree.city))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(exported.content)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert tuple(rows[0]) == EXPORT_HEADERS
    assert sorted(r[0] for r in rows[1:]) == sorted(m["member_no"] for m in created)
    by_no = {r[0]: r for r in rows[1:]}
    for member, record in zip(created, typed, strict=True):
        row = by_no[member["member_no"]]
        assert (row[1], row[2], row[3]) == (record["name"], record["gender"], record["ethnicity"])
        # Masked, never the whole number; branch by name.
        assert row[5] == member["id_number"] != record["id_number"] and "*" in row[5]
        assert row[8] in {"甲团支部", "乙团支部"}
    # Exporting a list is recorded like revealing an ID number.
    audited = await db(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'members.export' AND target_id = :org",
        org=str(tree.city),
    )
    assert audited[0].n == 1
