"""Supervision end to end through the gateway: a city inspects a county, the county's admins are
notified, report, are sent back, report again and are accepted; a failed spot check joins the
same list; an overdue notice shows to every organisation above."""

from __future__ import annotations

import uuid

from .conftest import Api, Running, Tree, eventually, first_login
from .test_platform import approve_admin
from .test_transfers import import_members


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
