"""Supervision end to end through the gateway: a city inspects a county, the county's admins are
notified, report, are sent back, report again and are accepted; a failed spot check joins the
same list; an overdue notice shows to every organisation above."""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from .conftest import Api, Running, Tree, eventually, first_login, login
from .test_platform import approve_admin
from .test_transfers import PASSWORD, activate, import_members


class Hierarchy:
    """A city of its own under the root with a county and a branch, each with its admin."""

    def __init__(self, running: Running, root_admin: Api, tree: Tree) -> None:
        tag = uuid.uuid4().hex[:4]
        self.city = root_admin.create_org(tree.root, f"督查市委{tag}").json()["id"]
        self.county = root_admin.create_org(self.city, f"督查县委{tag}").json()["id"]
        self.branch = root_admin.create_org(self.county, f"督查一支部{tag}", "branch").json()["id"]
        self.city_admin, self.county_admin = (
            first_login(running.system.gateway_url, a["username"], a["initial_password"])
            for a in (
                approve_admin(root_admin, org, f"dc{uuid.uuid4().hex[:6]}")
                for org in (self.city, self.county)
            )
        )


def inbox_titles(admin: Api, rectification: str) -> list[str]:
    items = admin.get("/me/notifications").json()["items"]
    return [n["title"] for n in items if n["link"].get("rectification_id") == rectification]


def test_an_inspection_finding_is_corrected_reported_sent_back_and_accepted(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    place = Hierarchy(running, root_admin, tree)
    city, county = place.city_admin, place.county_admin

    opened = city.post(f"/orgs/{place.county}/inspections", json={"areas": ["dues", "accounts"]})
    assert opened.status_code == 201, opened.text
    # The county does not inspect its own upper organisation.
    assert (
        county.post(f"/orgs/{place.city}/inspections", json={"areas": ["dues"]}).status_code == 403
    )
    finding = city.post(
        f"/inspections/{opened.json()['id']}/findings",
        json={"area": "dues", "finding": "十月团费未按时上缴", "due_working_days": 3},
    )
    assert finding.status_code == 201, finding.text
    notice = finding.json()["id"]
    # The county's admins are told (org's event, turned into a notice by activities).
    assert eventually(lambda: "整改通知" in inbox_titles(county, notice), within=30, interval=0.3)

    url = f"/rectifications/{notice}"
    assert county.post(f"{url}/report", json={"report": "已补缴"}).json()["status"] == "submitted"
    assert eventually(lambda: "整改报告待审核" in inbox_titles(city, notice), within=30)
    back = city.post(f"{url}/send-back", json={"reason": "请附上缴凭证"})
    assert back.status_code == 200 and back.json()["status"] == "sent_back"
    assert eventually(lambda: "整改被退回" in inbox_titles(county, notice), within=30)
    again = county.post(
        f"{url}/report", json={"report": "已补缴，附凭证", "document_ids": [county.upload()]}
    )
    assert again.json()["status"] == "submitted" and again.json()["rounds"] == 2
    accepted = city.post(f"{url}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert eventually(lambda: "整改已通过" in inbox_titles(county, notice), within=30)
    # Accepted is final; and the whole province sees it in its subtree's list.
    assert city.post(f"{url}/send-back", json={"reason": "再看看"}).status_code == 409
    listed = root_admin.get(f"/orgs/{tree.root}/rectifications?status=accepted&limit=200")
    assert notice in {n["id"] for n in listed.json()["items"]}


def test_a_failed_spot_check_and_an_overdue_notice_show_up_the_tree(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    place = Hierarchy(running, root_admin, tree)
    import_members(root_admin, place.branch, 10, seed=1101)
    drawn = place.county_admin.post(
        f"/orgs/{place.county}/spot-checks",
        json={"from": "2000-01-01", "to": "2100-01-01", "ratio": 0.2},
    )
    assert drawn.status_code == 201, drawn.text
    check = drawn.json()
    item = check["items"][0]
    failed = place.county_admin.post(
        f"/spot-checks/{check['id']}/items/{item['id']}",
        json={"result": "fail", "note": "籍贯与档案不符"},
    )
    assert failed.status_code == 200, failed.text
    rectification = failed.json()["rectification_id"]

    # The same notice in org's list, for the branch and for the county that checked it.
    def listed() -> dict[str, object] | None:
        items = place.county_admin.get(f"/orgs/{place.county}/rectifications").json()["items"]
        return next((n for n in items if n["id"] == rectification), None)

    notice = eventually(listed, within=30, interval=0.3)
    assert notice["source"] == "spot_check" and notice["org_id"] == place.branch
    assert notice["inspector_org_id"] == place.county and notice["status"] == "open"

    # Past its due date, still open: overdue for the county, the city and the province.
    running.db(
        "org",
        "UPDATE rectifications SET due_by = current_date - 2 WHERE id = $1",
        uuid.UUID(rectification),
    )
    for admin, org in ((place.county_admin, place.county), (place.city_admin, place.city)):
        overdue = admin.get(f"/orgs/{org}/rectifications?overdue=true").json()["items"]
        assert [n["id"] for n in overdue if n["id"] == rectification] == [rectification]
        assert all(n["overdue"] for n in overdue)
    province = root_admin.get(f"/orgs/{tree.root}/rectifications?overdue=true&limit=200")
    assert rectification in {n["id"] for n in province.json()["items"]}
    # The county reads the notice it follows up, but not the list of the city above it.
    assert place.city_admin.get(f"/rectifications/{rectification}").status_code == 200
    assert place.county_admin.get(f"/orgs/{place.city}/rectifications").status_code == 403


def test_the_assessment_gives_every_figure_for_the_subtree_and_each_child(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    """A city with two counties, each with a branch; what the test does fixes every figure."""
    tag = uuid.uuid4().hex[:4]
    city = root_admin.create_org(tree.root, f"考核市委{tag}").json()["id"]
    county_a = root_admin.create_org(city, f"考核甲县{tag}").json()["id"]
    county_b = root_admin.create_org(city, f"考核乙县{tag}").json()["id"]
    branch_a = root_admin.create_org(county_a, f"考核甲支部{tag}", "branch").json()["id"]
    branch_b = root_admin.create_org(county_b, f"考核乙支部{tag}", "branch").json()["id"]
    in_a = import_members(root_admin, branch_a, 3, seed=1201)
    import_members(root_admin, branch_b, 2, seed=1202)

    # System usage: two of county a's three members activate and log in; none of b's.
    for record in in_a[:2]:
        activate(running, root_admin, branch_a, record)
        assert login(running.system.gateway_url, record["member_no"], PASSWORD).status_code == 200
    # Information accuracy: county a checks all three of its records, one fails.
    check = eventually(
        lambda: (
            (
                r := root_admin.post(
                    f"/orgs/{county_a}/spot-checks",
                    json={"from": "2000-01-01", "to": "2100-01-01", "ratio": 1.0},
                )
            ).status_code
            == 201
            and len(r.json()["items"]) == 3
            and r.json()
        ),
        within=30,
        interval=0.3,
    )
    for n, item in enumerate(check["items"]):
        result = {"result": "fail", "note": "出生日期有误"} if n == 0 else {"result": "pass"}
        assert (
            root_admin.post(
                f"/spot-checks/{check['id']}/items/{item['id']}", json=result
            ).status_code
            == 200
        )
    # Rectification timeliness: the city's finding on county b is past due and unanswered.
    inspection = root_admin.post(f"/orgs/{county_b}/inspections", json={"areas": ["accounts"]})
    finding = root_admin.post(
        f"/inspections/{inspection.json()['id']}/findings",
        json={"area": "accounts", "finding": "管理员账号共用"},
    ).json()
    running.db(
        "org",
        "UPDATE rectifications SET due_by = make_date($1, 1, 2) WHERE id = $2",
        beijing_year(),
        uuid.UUID(finding["id"]),
    )

    year = beijing_year()

    def report() -> dict[str, Any] | None:
        r = root_admin.get(f"/orgs/{city}/assessment", params={"year": year})
        assert r.status_code == 200, r.text
        body = r.json()
        usage = figure(body, "system_usage")
        accuracy = figure(body, "information_accuracy")
        # County a's failed check opens its rectification by event: counted once it has.
        rectifications = figure(body, "rectification_timeliness")
        ready = (
            usage["numerator"] == 2
            and accuracy["denominator"] == 3
            and rectifications["denominator"] == 2
        )
        return body if ready else None

    body = eventually(report, within=30, interval=0.5)
    assert body["unavailable"] == []
    assert [i["indicator"] for i in body["indicators"]] == [
        "system_usage",
        "information_accuracy",
        "transfer_timeliness",
        "dues_collection",
        "remittance_timeliness",
        "activity_summaries",
        "org_management",
        "rectification_timeliness",
    ]
    a, b = county_a, county_b
    expect = {
        "system_usage": ((2, 5), {a: (2, 3), b: (0, 2)}),
        "information_accuracy": ((2, 3), {a: (2, 3), b: (0, 0)}),
        "transfer_timeliness": ((0, 0), {a: (0, 0), b: (0, 0)}),
        "activity_summaries": ((0, 0), {a: (0, 0), b: (0, 0)}),
        # The counties and branches were approved today and recorded at once; the city too.
        "org_management": ((5, 5), {a: (2, 2), b: (2, 2)}),
        # County a's failed spot check is due in two weeks (in time so far); b's is late.
        "rectification_timeliness": ((1, 2), {a: (1, 1), b: (0, 1)}),
    }
    # Dues: whatever cycles the other modules opened, counted independently in fees' database.
    branch_ids = [uuid.UUID(branch_a), uuid.UUID(branch_b)]
    bills = running.db(
        "fees",
        "SELECT branch_id::text AS branch, count(*) FILTER (WHERE status = 'paid') AS paid, "
        "count(*) AS issued FROM bills WHERE branch_id = ANY($1::uuid[]) "
        "AND extract(year FROM month) = $2 GROUP BY 1",
        branch_ids,
        year,
    )
    by_branch = {r["branch"]: (r["paid"], r["issued"]) for r in bills}
    dues_a, dues_b = by_branch.get(branch_a, (0, 0)), by_branch.get(branch_b, (0, 0))
    expect["dues_collection"] = (
        (dues_a[0] + dues_b[0], dues_a[1] + dues_b[1]),
        {a: dues_a, b: dues_b},
    )
    expect["remittance_timeliness"] = ((0, 0), {a: (0, 0), b: (0, 0)})
    for key, (total, children) in expect.items():
        shown = figure(body, key)
        assert (shown["numerator"], shown["denominator"]) == total, key
        assert {
            c["org_id"]: (c["numerator"], c["denominator"]) for c in shown["children"]
        } == children, key
    names = {c["org_id"]: c["name"] for c in figure(body, "system_usage")["children"]}
    assert names == {a: f"考核甲县{tag}", b: f"考核乙县{tag}"}
    assert figure(body, "system_usage")["name"] == "系统使用率"
    # Years the platform never saw are refused, not answered with zeros.
    assert root_admin.get(f"/orgs/{city}/assessment", params={"year": 1999}).status_code == 422


def figure(body: dict[str, Any], key: str) -> dict[str, Any]:
    return next(i for i in body["indicators"] if i["indicator"] == key)


def beijing_year() -> int:
    return datetime.now(ZoneInfo("Asia/Shanghai")).year


def test_statistics_and_a_member_list_export_through_the_gateway(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    tag = uuid.uuid4().hex[:4]
    county = root_admin.create_org(tree.root, f"统计县委{tag}").json()["id"]
    branch = root_admin.create_org(county, f"统计支部{tag}", "branch").json()["id"]
    records = import_members(root_admin, branch, 12, seed=1401)

    def counted() -> dict[str, Any] | None:
        body = root_admin.get(f"/orgs/{county}/member-statistics").json()
        return body if body["total"] == 12 else None

    stats = eventually(counted, within=30, interval=0.3)
    assert sum(stats["gender"].values()) == sum(stats["age_band"].values()) == 12
    assert [c["org_id"] for c in stats["children"]] == [branch]
    orgs = root_admin.get(f"/orgs/{county}/org-statistics").json()
    assert orgs["by_type"] == {"branch": 1} and orgs["by_status"] == {"active": 1}

    # Streamed by members, passed on by the gateway as it comes (no length known up front).
    exported = root_admin.get(f"/orgs/{county}/members/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(exported.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("团员编号", "姓名") and len(rows) == 13
    assert {r[0] for r in rows[1:]} == {m["member_no"] for m in records}
