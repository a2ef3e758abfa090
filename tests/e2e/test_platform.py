"""End-to-end through the gateway against the real processes: the first admin builds the tree,
a county gets its admin, scopes hold, accounts lock and freeze, trees refuse impossible shapes."""

from __future__ import annotations

import time
import uuid
from datetime import date

import httpx

from .conftest import (
    STRONG,
    Api,
    Running,
    Tree,
    eventually,
    first_login,
    login,
    not_yet_known,
)


def test_bootstrap_admin_builds_city_counties_and_branches(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    city = root_admin.get(f"/orgs/{tree.city}").json()
    assert city["path"] == [tree.root, tree.city] and city["type"] == "committee"
    branch = root_admin.get(f"/orgs/{tree.branch_b}").json()
    assert branch["path"] == [tree.root, tree.city, tree.county_b, tree.branch_b]
    children = root_admin.get(f"/orgs/{tree.city}/children").json()["items"]
    # Other modules add their own counties under the shared city; this one checks its two.
    names = {c["id"]: c["name"] for c in children}
    assert (names.get(tree.county_a), names.get(tree.county_b)) == ("甲县委", "乙县委")
    me = root_admin.get("/me").json()
    assert (me["username"], me["role"], me["org_name"]) == ("admin", "admin", "共青团测试省委员会")


def test_a_restricted_token_only_reaches_the_password_change(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    username = f"gate{uuid.uuid4().hex[:6]}"
    approved = approve_admin(root_admin, tree.county_b, username)
    r = login(running.system.gateway_url, username, approved["initial_password"])
    restricted = Api(running.system.gateway_url, r.json()["access_token"])
    blocked = restricted.get(f"/orgs/{tree.county_b}")
    assert blocked.status_code == 403 and blocked.json()["code"] == "auth.password_change_required"
    assert restricted.get("/me").status_code == 200


def approve_admin(approver: Api, org_id: str, username: str) -> dict[str, str]:
    form = approver.upload()

    def record() -> httpx.Response | None:
        # Identity learns a new organisation by event, some milliseconds after it was created.
        answer = approver.post(
            f"/orgs/{org_id}/admin-applications",
            json={
                "responsible_name": "李四",
                "responsible_phone": "13700137000",
                "requested_username": username,
                "form_document_id": form,
            },
        )
        return None if not_yet_known(answer) else answer

    recorded = eventually(record, within=10)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["status"] == "pending"
    approved = approver.post(f"/admin-applications/{recorded.json()['id']}/approve")
    assert approved.status_code == 201, approved.text
    return dict(approved.json())


def test_a_county_admin_acts_inside_its_subtree_and_nowhere_else(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    approved = approve_admin(root_admin, tree.county_a, f"county{uuid.uuid4().hex[:6]}")
    county = first_login(
        running.system.gateway_url, approved["username"], approved["initial_password"]
    )

    created = county.create_org(tree.county_a, f"甲县新团支部{uuid.uuid4().hex[:4]}", "branch")
    assert created.status_code == 201, created.text
    assert county.get(f"/orgs/{created.json()['id']}").status_code == 200
    assert county.get(f"/orgs/{tree.branch_a}").status_code == 200

    sibling = county.get(f"/orgs/{tree.county_b}")
    assert sibling.status_code == 403 and sibling.json()["code"] == "auth.out_of_scope"
    assert county.get(f"/orgs/{tree.city}").status_code == 403
    assert county.create_org(tree.county_b, "越权支部", "branch").status_code == 403
    assert county.get(f"/orgs/{tree.city}/security-check").status_code == 403


def test_five_wrong_passwords_lock_the_account(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    approved = approve_admin(root_admin, tree.branch_a, f"branch{uuid.uuid4().hex[:6]}")
    url = running.system.gateway_url
    assert [login(url, approved["username"], "not-my-password").status_code for _ in range(5)] == [
        401
    ] * 5
    locked = login(url, approved["username"], approved["initial_password"])
    assert locked.status_code == 423 and locked.json()["code"] == "auth.locked"


def test_freezing_an_account_stops_its_live_token_within_two_seconds(
    running: Running, root_admin: Api, tree: Tree
) -> None:
    approved = approve_admin(root_admin, tree.county_b, f"frozen{uuid.uuid4().hex[:6]}")
    victim = first_login(
        running.system.gateway_url, approved["username"], approved["initial_password"]
    )
    assert victim.get("/me").status_code == 200

    frozen_at = time.monotonic()
    assert (
        root_admin.post(
            f"/accounts/{approved['account_id']}/freeze", json={"reason": "疑似被盗"}
        ).status_code
        == 204
    )
    refused = eventually(
        lambda: (r := victim.get("/me")).status_code == 403 and r, within=2.0, interval=0.05
    )
    assert refused.json()["code"] == "auth.frozen"
    assert time.monotonic() - frozen_at < 2.0
    again = login(running.system.gateway_url, approved["username"], STRONG)
    assert again.status_code == 403 and again.json()["code"] == "auth.frozen"


def test_a_branch_cannot_get_a_child_and_a_committee_with_a_child_cannot_be_dissolved(
    root_admin: Api, tree: Tree
) -> None:
    child = root_admin.create_org(tree.branch_a, "支部下的支部", "branch")
    assert child.status_code == 422 and child.json()["code"] == "org.parent_is_branch"
    dissolve = root_admin.post(
        f"/orgs/{tree.county_a}/dissolution",
        json={"decided_on": str(date.today()), "reason": "机构调整"},
    )
    assert dissolve.status_code == 409
    assert dissolve.json()["code"] == "org.not_empty" and dissolve.json()["active_children"] >= 1


def test_every_error_is_problem_json_with_a_trace_id(running: Running, root_admin: Api) -> None:
    anonymous = httpx.get(f"{running.system.gateway_url}/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    bad = root_admin.post("/orgs", json={"parent_id": "not-a-uuid"})
    assert bad.status_code == 422 and bad.json()["code"] == "request.invalid"
    assert len(bad.headers["x-trace-id"]) == 32


def test_the_merged_openapi_describes_the_public_routes(running: Running) -> None:
    doc = httpx.get(f"{running.system.gateway_url}/openapi.json").json()
    for path in (
        "/api/v1/auth/login",
        "/api/v1/orgs",
        "/api/v1/orgs/{org_id}",
        "/api/v1/admin-applications/{application_id}/approve",
        "/api/v1/documents",
        "/api/v1/orgs/{org_id}/members/import",
        "/api/v1/members/{member_id}",
        "/api/v1/change-requests/{review_id}/approve",
        "/api/v1/orgs/{org_id}/spot-checks",
        "/api/v1/orgs/{org_id}/activation-codes",
    ):
        assert path in doc["paths"], path
    assert not any("/internal" in p for p in doc["paths"])


def test_every_operation_in_the_merged_openapi_lists_its_problem_answers(running: Running) -> None:
    doc = httpx.get(f"{running.system.gateway_url}/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    assert doc["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "code",
    ]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            answers = operation["responses"]
            # What the gateway itself may answer in front of every route.
            assert {"429", "503"} <= set(answers), (method, path)
            if operation.get("security"):
                assert {"401", "403"} <= set(answers), (method, path)
            if "{" in path:
                assert "404" in answers, (method, path)
            if "requestBody" in operation:
                assert {"413", "422"} <= set(answers), (method, path)
            for status, answer in answers.items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/problem+json"]["schema"]
                    assert schema == problem, (method, path, status)
    login = doc["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"401", "403", "423"} <= set(login)
