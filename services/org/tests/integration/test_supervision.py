"""Inspections and rectification notices through the org service's own API, on a real database:
who may do what, the notice's life, the subtree's list and its overdue view, and failed spot
checks joining the same list."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from org.handlers import spot_check_failed
from org.settings import OrgSettings
from shared.calendar import beijing_today, default_calendar
from shared.db import make_engine, make_sessionmaker
from shared.events import SpotCheckFailed

from .test_org_api import admin, create, upload


@pytest.fixture(scope="module")
async def engine(settings: OrgSettings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(settings.resolved_database_url(), instrument=False, pool_size=2)
    yield engine
    await engine.dispose()


async def sql(engine: AsyncEngine, statement: str, **params: object) -> list[object]:
    async with engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


@pytest.fixture(scope="module")
async def tree(client: httpx.AsyncClient, settings: OrgSettings, root_id: str) -> dict[str, str]:
    """A city under the root, two counties under the city."""
    suffix = uuid.uuid4().hex[:6]
    city = (await create(client, admin(settings, root_id), root_id, f"督查市{suffix}")).json()
    counties = [
        (await create(client, admin(settings, city["id"]), city["id"], f"督查县{n}{suffix}")).json()
        for n in (1, 2)
    ]
    return {"root": root_id, "city": city["id"], "a": counties[0]["id"], "b": counties[1]["id"]}


async def inspect(
    client: httpx.AsyncClient, settings: OrgSettings, by: str, of: str, areas: list[str]
) -> httpx.Response:
    return await client.post(
        f"/orgs/{of}/inspections", json={"areas": areas}, headers=admin(settings, by)
    )


async def test_an_inspection_finds_and_the_notice_goes_back_and_forth_until_accepted(
    client: httpx.AsyncClient, settings: OrgSettings, tree: dict[str, str], engine: AsyncEngine
) -> None:
    city, county = admin(settings, tree["city"]), admin(settings, tree["a"])
    inspection = await inspect(client, settings, tree["city"], tree["a"], ["dues", "accounts"])
    assert inspection.status_code == 201, inspection.text
    inspection_id = inspection.json()["id"]

    # Only an area the inspection covers; the due date in working days from today.
    r = await client.post(
        f"/inspections/{inspection_id}/findings",
        json={"area": "org_management", "finding": "缺少会议记录"},
        headers=city,
    )
    assert (r.status_code, r.json()["code"]) == (422, "inspection.area_not_inspected")
    r = await client.post(
        f"/inspections/{inspection_id}/findings",
        json={"area": "dues", "finding": "团费收缴台账不全", "due_working_days": 5},
        headers=city,
    )
    assert r.status_code == 201, r.text
    notice = r.json()
    assert notice["status"] == "open" and notice["area_name"] == "团费管理"
    assert notice["due_by"] == str(default_calendar().add_working_days(beijing_today(), 5))
    assert notice["org_id"] == tree["a"] and notice["inspector_org_id"] == tree["city"]
    # The county's admins hear of it (activities turns the event into their notice).
    ordered = await sql(
        engine,
        "SELECT envelope->'data' AS data FROM outbox WHERE type = 'rectification.ordered' "
        "AND envelope->'data'->>'rectification_id' = :id",
        id=notice["id"],
    )
    assert ordered[0].data["org_id"] == tree["a"] and "finding" not in ordered[0].data  # type: ignore[attr-defined]

    url = f"/rectifications/{notice['id']}"
    # The inspector does not report for the county; the county does not judge its own report.
    r = await client.post(f"{url}/report", json={"report": "已补全"}, headers=city)
    assert (r.status_code, r.json()["code"]) == (403, "rectification.not_yours")
    assert (await client.post(f"{url}/accept", headers=county)).status_code == 403
    # Nothing to judge before a report.
    r = await client.post(f"{url}/accept", headers=city)
    assert (r.status_code, r.json()["code"]) == (409, "rectification.wrong_state")

    document = await upload(client, county)
    r = await client.post(
        f"{url}/report", json={"report": "已补全台账", "document_ids": [document]}, headers=county
    )
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    assert r.json()["report_document_ids"] == [document]
    r = await client.post(f"{url}/send-back", json={"reason": "缺少十月记录"}, headers=city)
    assert r.json()["status"] == "sent_back" and r.json()["sent_back_reason"] == "缺少十月记录"
    r = await client.post(f"{url}/report", json={"report": "已补十月记录"}, headers=county)
    assert r.json()["status"] == "submitted" and r.json()["rounds"] == 2
    r = await client.post(f"{url}/accept", headers=city)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    r = await client.post(f"{url}/report", json={"report": "再交一次"}, headers=county)
    assert (r.status_code, r.json()["code"]) == (409, "rectification.wrong_state")

    steps = await sql(
        engine,
        "SELECT type, envelope->'data'->>'decision' AS decision FROM outbox "
        "WHERE envelope->'data'->>'rectification_id' = :id ORDER BY created_at",
        id=notice["id"],
    )
    assert [(s.type, s.decision) for s in steps] == [  # type: ignore[attr-defined]
        ("rectification.ordered", None),
        ("rectification.submitted", None),
        ("rectification.decided", "sent_back"),
        ("rectification.submitted", None),
        ("rectification.decided", "accepted"),
    ]
    # The inspection shows its notice; the root sees it too, the other county does not.
    shown = (
        await client.get(f"/inspections/{inspection_id}", headers=admin(settings, tree["root"]))
    ).json()
    assert [n["status"] for n in shown["rectifications"]] == ["accepted"]
    assert (await client.get(url, headers=admin(settings, tree["b"]))).status_code == 404


async def test_only_lower_organisations_are_inspected_by_their_own_uppers(
    client: httpx.AsyncClient, settings: OrgSettings, tree: dict[str, str]
) -> None:
    r = await inspect(client, settings, tree["city"], tree["city"], ["dues"])
    assert (r.status_code, r.json()["code"]) == (422, "inspection.not_below")
    r = await inspect(client, settings, tree["a"], tree["b"], ["dues"])
    assert r.status_code == 403
    r = await inspect(client, settings, tree["city"], tree["a"], ["dues", "dues"])
    assert r.status_code == 422


async def test_overdue_notices_are_listed_up_the_tree_and_spot_checks_join_them(
    client: httpx.AsyncClient, settings: OrgSettings, tree: dict[str, str], engine: AsyncEngine
) -> None:
    inspection = (await inspect(client, settings, tree["city"], tree["b"], ["accounts"])).json()
    late = (
        await client.post(
            f"/inspections/{inspection['id']}/findings",
            json={"area": "accounts", "finding": "离任管理员账号未停用"},
            headers=admin(settings, tree["city"]),
        )
    ).json()
    # Time passes: the due date is behind us and the county has not reported.
    await sql(
        engine,
        "UPDATE rectifications SET due_by = :day WHERE id = :id",
        day=beijing_today() - timedelta(days=3),
        id=late["id"],
    )
    # A failed spot check in county a, told twice (a redelivery): one notice, one announcement.
    failed = SpotCheckFailed(
        rectification_id=uuid.uuid4(),
        spot_check_item_id=uuid.uuid4(),
        branch_id=uuid.UUID(tree["a"]),
        checking_org_id=uuid.UUID(tree["city"]),
        due_by=date.today() + timedelta(days=14),
    )
    sessions = make_sessionmaker(engine)
    for _ in range(2):
        async with sessions() as session, session.begin():
            await spot_check_failed(session, failed, failed.envelope("members"))

    for viewer in ("root", "city"):
        listed = (
            await client.get(
                f"/orgs/{tree[viewer]}/rectifications", headers=admin(settings, tree[viewer])
            )
        ).json()["items"]
        ids = {n["id"] for n in listed}
        assert {late["id"], str(failed.rectification_id)} <= ids
        overdue = (
            await client.get(
                f"/orgs/{tree[viewer]}/rectifications?overdue=true",
                headers=admin(settings, tree[viewer]),
            )
        ).json()["items"]
        assert [n["id"] for n in overdue if n["overdue"]] == [n["id"] for n in overdue]
        assert late["id"] in {n["id"] for n in overdue}
        assert str(failed.rectification_id) not in {n["id"] for n in overdue}
    spot = next(n for n in listed if n["id"] == str(failed.rectification_id))
    assert (spot["source"], spot["org_id"], spot["area_name"]) == (
        "spot_check",
        tree["a"],
        "团员信息",
    )
    # County a sees its own notices only, not county b's overdue one.
    own = (
        await client.get(f"/orgs/{tree['a']}/rectifications", headers=admin(settings, tree["a"]))
    ).json()["items"]
    assert late["id"] not in {n["id"] for n in own}
    announced = await sql(
        engine,
        "SELECT count(*) AS n FROM outbox WHERE type = 'rectification.ordered' "
        "AND envelope->'data'->>'rectification_id' = :id",
        id=str(failed.rectification_id),
    )
    assert announced[0].n == 1  # type: ignore[attr-defined]


async def test_the_list_pages_with_a_cursor(
    client: httpx.AsyncClient, settings: OrgSettings, tree: dict[str, str]
) -> None:
    headers = admin(settings, tree["root"])
    first = (
        await client.get(f"/orgs/{tree['root']}/rectifications?limit=1", headers=headers)
    ).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = (
        await client.get(
            f"/orgs/{tree['root']}/rectifications?limit=1&cursor={first['next_cursor']}",
            headers=headers,
        )
    ).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]


async def test_an_assessment_names_the_figures_whose_service_did_not_answer(
    client: httpx.AsyncClient, settings: OrgSettings, tree: dict[str, str]
) -> None:
    """No other service runs here: the report still answers, with org's own figures, and says
    which are missing instead of failing or showing zeros."""
    r = await client.get(
        f"/orgs/{tree['city']}/assessment",
        params={"year": beijing_today().year},
        headers=admin(settings, tree["city"]),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["unavailable"]) == {
        "system_usage",
        "information_accuracy",
        "transfer_timeliness",
        "dues_collection",
        "remittance_timeliness",
        "activity_summaries",
    }
    shown = {i["indicator"]: i for i in body["indicators"]}
    assert set(shown) == {"org_management", "rectification_timeliness"}
    management = shown["org_management"]
    # The city and its two counties were approved this year and recorded in time.
    assert (management["numerator"], management["denominator"]) == (3, 3)
    assert {c["org_id"] for c in management["children"]} == {tree["a"], tree["b"]}
    assert management["name"] == "组织建立与撤销及时率"
    other = await client.get(
        f"/orgs/{tree['city']}/assessment",
        params={"year": beijing_today().year},
        headers=admin(settings, tree["a"]),
    )
    assert other.status_code == 403


async def test_organisations_are_counted_by_type_and_status_per_child(
    client: httpx.AsyncClient, settings: OrgSettings, tree: dict[str, str]
) -> None:
    branch = await create(client, admin(settings, tree["a"]), tree["a"], "统计支部", "branch")
    assert branch.status_code == 201, branch.text
    r = await client.get(
        f"/orgs/{tree['city']}/org-statistics", headers=admin(settings, tree["city"])
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and body["by_type"] == {"committee": 2, "branch": 1}
    assert body["by_status"] == {"active": 3}
    children = {c["org_id"]: c for c in body["children"]}
    assert (children[tree["a"]]["total"], children[tree["b"]]["total"]) == (2, 1)
    assert children[tree["a"]]["by_type"] == {"committee": 1, "branch": 1}
    sheet = await client.get(
        f"/orgs/{tree['city']}/org-statistics/export", headers=admin(settings, tree["city"])
    )
    assert sheet.status_code == 200, sheet.text
    header, *rows = load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True)
    assert header[:6] == (
        "组织",
        "组织总数",
        "类型：团委",
        "类型：团工委",
        "类型：团总支",
        "类型：团支部",
    )
    assert rows[0][:6] == ("合计", "3", "2", "0", "0", "1")
    named = {row[0]: row[1] for row in rows[1:]}
    assert sorted(named.values()) == ["1", "2"] and "" not in named


async def test_the_assessment_exports_as_a_sheet_with_chinese_headers(
    client: httpx.AsyncClient, settings: OrgSettings, tree: dict[str, str]
) -> None:
    year = beijing_today().year
    r = await client.get(
        f"/orgs/{tree['city']}/assessment/export",
        params={"year": year},
        headers=admin(settings, tree["city"]),
    )
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[0] == ("指标", "组织", "达标数", "总数", "比率")
    management = [row for row in rows if row[0] == "组织建立与撤销及时率"]
    assert management[0][1] == "合计" and len(management) == 3  # the total, then each county
    # The figures no service gave are named, not shown as zeros.
    assert rows[-1][0] == "未能取得" and "system_usage" in rows[-1][1]
