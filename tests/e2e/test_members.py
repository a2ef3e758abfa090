"""Members end to end through the gateway: a branch imports 500 members from an .xlsx, one of them
activates the account, edits the phone, asks for a joining-date change; scopes hold."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest

from members.fakes import as_xlsx, people

from .conftest import Api, Running, Tree, eventually, login

PASSWORD = "Member-Pass-2026"


@pytest.fixture(scope="module")
def sheet() -> bytes:
    return as_xlsx(list(people(500, random.Random(500))))


@pytest.fixture(scope="module")
def imported(root_admin: Api, tree: Tree, sheet: bytes) -> dict[str, Any]:
    r = root_admin.post(
        f"/orgs/{tree.branch_a}/members/import",
        files={"file": ("团员名单.xlsx", sheet)},
        headers={"Idempotency-Key": "e2e-import-500"},
    )
    assert r.status_code == 200, r.text[:500]
    return dict(r.json())


@pytest.fixture(scope="module")
def member(
    running: Running, root_admin: Api, tree: Tree, imported: dict[str, Any]
) -> tuple[Api, dict[str, Any]]:
    """The first imported member, activated with the code the branch lists, logged in."""
    record = imported["members"][0]

    def code() -> str | None:
        params: dict[str, Any] = {"limit": 500}
        while True:
            page = root_admin.get(f"/orgs/{tree.branch_a}/activation-codes", params=params).json()
            mine = [i["activation_code"] for i in page["items"] if i["member_id"] == record["id"]]
            if mine or not page["next_cursor"]:
                return mine[0] if mine else None
            params["cursor"] = page["next_cursor"]

    activation_code = eventually(code, within=30, interval=0.3)
    activated = root_admin.post(
        "/auth/activate",
        json={
            "username": record["member_no"],
            "activation_code": activation_code,
            "new_password": PASSWORD,
        },
    )
    assert activated.status_code == 204, activated.text
    r = login(running.system.gateway_url, record["member_no"], PASSWORD)
    assert r.status_code == 200 and r.json()["account"]["role"] == "member"
    return Api(running.system.gateway_url, r.json()["access_token"]), record


def test_500_members_import_from_an_xlsx_with_masked_id_numbers(
    root_admin: Api, tree: Tree, imported: dict[str, Any]
) -> None:
    assert imported["imported"] == 500
    listed = root_admin.get(
        f"/orgs/{tree.county_a}/members", params={"recursive": "true", "limit": 500}
    ).json()
    assert len(listed["items"]) == 500
    assert all("*" * 11 in m["id_number"] for m in listed["items"])


def test_a_repeated_upload_with_the_same_key_changes_nothing(
    root_admin: Api, tree: Tree, sheet: bytes, imported: dict[str, Any]
) -> None:
    again = root_admin.post(
        f"/orgs/{tree.branch_a}/members/import",
        files={"file": ("团员名单.xlsx", sheet)},
        headers={"Idempotency-Key": "e2e-import-500"},
    )
    assert again.status_code == 200 and again.json() == imported
    listed = root_admin.get(f"/orgs/{tree.branch_a}/members", params={"limit": 500}).json()
    assert len(listed["items"]) == 500


def test_an_activated_member_reads_the_own_record_and_no_other(
    member: tuple[Api, dict[str, Any]], imported: dict[str, Any]
) -> None:
    api, record = member
    me = api.get(f"/members/{record['id']}")
    assert me.status_code == 200 and me.json()["member_no"] == record["member_no"]
    other = imported["members"][1]
    assert api.get(f"/members/{other['id']}").status_code == 404


def test_a_self_edit_of_the_phone_applies_and_opens_a_review(
    root_admin: Api, tree: Tree, member: tuple[Api, dict[str, Any]]
) -> None:
    api, record = member
    r = api.patch(f"/members/{record['id']}", json={"phone": "13699998888"})
    assert r.status_code == 200 and r.json()["phone"] == "13699998888"
    reviews = root_admin.get(f"/orgs/{tree.branch_a}/reviews").json()["items"]
    assert any(i["member_id"] == record["id"] and i["kind"] == "self_edit" for i in reviews)


def test_a_joining_date_change_is_pending_until_the_branch_approves(
    root_admin: Api, member: tuple[Api, dict[str, Any]]
) -> None:
    api, record = member
    new_date = str(date.fromisoformat(record["joined_on"]) + timedelta(days=2))
    direct = api.patch(f"/members/{record['id']}", json={"joined_on": new_date})
    assert direct.status_code == 403 and direct.json()["code"] == "member.key_field_needs_approval"
    request = api.post(
        f"/members/{record['id']}/change-requests",
        json={"changes": {"joined_on": new_date}, "reason": "档案记载为该日"},
    )
    assert request.status_code == 201 and request.json()["status"] == "pending"
    assert api.get(f"/members/{record['id']}").json()["joined_on"] == record["joined_on"]
    assert root_admin.post(f"/change-requests/{request.json()['id']}/approve").status_code == 200
    assert api.get(f"/members/{record['id']}").json()["joined_on"] == new_date


def test_a_county_admin_cannot_read_a_member_of_a_sibling_county(
    running: Running, root_admin: Api, tree: Tree, imported: dict[str, Any]
) -> None:
    from .conftest import first_login
    from .test_platform import approve_admin

    approved = approve_admin(root_admin, tree.county_b, "countyb-members")
    county_b = first_login(
        running.system.gateway_url, approved["username"], approved["initial_password"]
    )
    assert county_b.get(f"/members/{imported['members'][0]['id']}").status_code == 404
    assert county_b.get(f"/orgs/{tree.branch_a}/members").status_code == 403


def test_a_branch_with_members_cannot_be_dissolved(
    root_admin: Api, tree: Tree, imported: dict[str, Any]
) -> None:
    # The org service counts members from member.created events.
    eventually(
        lambda: root_admin.get(f"/orgs/{tree.branch_a}").json()["member_count"] >= 500,
        within=30,
        interval=0.5,
    )
    r = root_admin.post(
        f"/orgs/{tree.branch_a}/dissolution",
        json={"decided_on": str(date.today()), "reason": "合并"},
    )
    assert r.status_code == 409
    assert (r.json()["code"], r.json()["members"]) == ("org.not_empty", 500)


def test_imported_members_reach_the_fees_service_and_declare_what_they_pay(
    member: tuple[Api, dict[str, Any]], imported: dict[str, Any], root_admin: Api
) -> None:
    api, record = member
    # The fees service learns of the import from its member.imported chunks.
    declared = eventually(
        lambda: (
            r
            if (
                r := api.put(
                    f"/members/{record['id']}/fee-profile",
                    json={"category": "salaried", "monthly_income_fen": 450_000},
                )
            ).status_code
            == 200
            else None
        ),
        within=30,
        interval=0.3,
    )
    assert declared.json()["monthly_fee_fen"] == 4_500  # 1% of 4,500 yuan
    other = imported["members"][-1]
    assert (
        api.put(f"/members/{other['id']}/fee-profile", json={"category": "student"}).status_code
        == 404
    )
    by_admin = root_admin.put(f"/members/{other['id']}/fee-profile", json={"category": "student"})
    assert by_admin.status_code == 200 and by_admin.json()["monthly_fee_fen"] == 20
