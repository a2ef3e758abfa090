"""A year's activity statistics over a subtree, with each direct child's figures."""

from __future__ import annotations

import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from activities.settings import ActivitiesSettings
from shared.testing import caller_headers

from .conftest import Headers, Tree, fan_out_commands, new_members, run_fan_out

Admin = Callable[[uuid.UUID], Headers]
Member = Callable[[uuid.UUID, uuid.UUID], Headers]
Db = Callable[..., Awaitable[list[Any]]]


def activity(org_hours_ahead: float = 48) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=org_hours_ahead)
    return {
        "title": "志愿服务",
        "theme": "学雷锋",
        "place": "社区",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
    }


async def test_a_citys_year_with_each_countys_figures(
    client: httpx.AsyncClient,
    settings: ActivitiesSettings,
    tree: Tree,
    admin: Admin,
    member: Member,
    db: Db,
) -> None:
    members = await new_members(settings, tree.branch_a, 4)
    ids = []
    for org in (tree.county_a, tree.branch_a):
        r = await client.post(f"/orgs/{org}/activities", json=activity(), headers=admin(org))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    await run_fan_out(settings, await fan_out_commands(db))
    for m in members[:2]:
        signed = await client.post(
            f"/activities/{ids[0]}/signups", headers=member(m, tree.branch_a)
        )
        assert signed.status_code == 201
    # Both took place in June 2025 (dated back here); the county's has its summary, the branch's
    # still has none.
    await db(
        "UPDATE activities SET starts_at = :at, ends_at = CAST(:at AS timestamptz) + interval '2 hours', "
        "summarised_at = CASE WHEN id = :summarised THEN now() END WHERE id = ANY(:ids)",
        at=datetime(2025, 6, 1, 2, 0, tzinfo=UTC),
        summarised=uuid.UUID(ids[0]),
        ids=[uuid.UUID(i) for i in ids],
    )
    year = 2025
    r = await client.get(
        f"/orgs/{tree.city}/activity-statistics", params={"year": year}, headers=admin(tree.city)
    )
    assert r.status_code == 200, r.text
    city = r.json()
    assert (city["activities"], city["signups"], city["invited"]) == (2, 2, 8)
    assert city["participation_rate"] == 0.25 and city["unsummarised"] == 1
    children = {c["org_id"]: c for c in city["children"]}
    assert set(children) == {str(tree.county_a), str(tree.county_b)}
    assert children[str(tree.county_a)]["activities"] == 2
    assert children[str(tree.county_b)] == {
        "org_id": str(tree.county_b),
        "activities": 0,
        "signups": 0,
        "invited": 0,
        "participation_rate": None,
        "unsummarised": 0,
    }
    sheet = await client.get(
        f"/orgs/{tree.city}/activity-statistics/export",
        params={"year": year},
        headers=admin(tree.city),
    )
    assert sheet.status_code == 200, sheet.text
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0] == ("组织", "活动数", "报名人次", "通知人数", "参与率", "未按时总结活动数")
    assert rows[1] == ("合计", "2", "2", "8", "25.00%", "1")
    assert sorted(rows[2:]) == [
        ("乙县委", "0", "0", "0", "", "0"),
        ("甲县委", "2", "2", "8", "25.00%", "1"),
    ]
    other_year = await client.get(
        f"/orgs/{tree.city}/activity-statistics",
        params={"year": year + 1},
        headers=admin(tree.city),
    )
    assert other_year.json()["activities"] == 0
    refused = await client.get(
        f"/orgs/{tree.city}/activity-statistics",
        params={"year": year},
        headers=admin(tree.county_a),
    )
    assert refused.status_code == 403
    # The assessment's share: of the two ended long ago, the county's has its summary.
    system = caller_headers(settings.platform.internal_secret, "system", None)
    share = (
        await client.get(
            f"/internal/orgs/{tree.city}/assessment/activity-summaries",
            params={"year": year},
            headers=system,
        )
    ).json()
    assert (share["numerator"], share["denominator"], share["rate"]) == (1, 2, 0.5)
    assert {c["org_id"]: (c["numerator"], c["denominator"]) for c in share["children"]} == {
        str(tree.county_a): (1, 2)
    }
