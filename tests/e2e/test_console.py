"""The web console in a real browser (Debian's Chromium, driven by Playwright) against the
running system: sign-in with its Chinese errors, the first-login password change, the
organisation tree and pages, a branch's members with search, and a member's record with the ID
number masked until an audited reveal. The console is what the gateway serves at `/`."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import Page, expect

from members.fakes import as_csv, people

from .conftest import STRONG, Api, Running, Tree, eventually, sign_in
from .test_platform import approve_admin


def test_sign_in_says_what_went_wrong_in_chinese_and_returns_to_the_page_asked_for(
    running: Running, root_admin: Api, tree: Tree, page: Page
) -> None:
    base = running.system.gateway_url
    # Signed out, a screen's address leads to sign-in, and back to it afterwards.
    page.goto(f"{base}/orgs/{tree.city}")
    expect(page).to_have_url(f"{base}/login?next=/orgs/{tree.city}")
    sign_in(page, "admin", "not-the-password")
    expect(page.get_by_text("用户名或密码错误")).to_be_visible()
    sign_in(page, "admin", STRONG)
    expect(page.locator("[data-test=org-name]")).to_have_text("测试市委")
    # The city's counties, by name and type, and the tree beside them from the province down.
    expect(page.get_by_role("cell", name="甲县委")).to_be_visible()
    expect(page.get_by_role("cell", name="团委").first).to_be_visible()
    expect(page.locator(".el-tree").get_by_text("共青团测试省委员会")).to_be_visible()
    page.get_by_role("cell", name="乙县委").click()
    expect(page.locator("[data-test=org-name]")).to_have_text("乙县委")


def test_a_new_admin_must_change_the_initial_password_first(
    running: Running, root_admin: Api, tree: Tree, page: Page
) -> None:
    base = running.system.gateway_url
    approved = approve_admin(root_admin, tree.county_b, f"web{uuid.uuid4().hex[:6]}")
    page.goto(f"{base}/login")
    sign_in(page, approved["username"], approved["initial_password"])
    expect(page.get_by_text("首次登录须先修改初始密码。")).to_be_visible()
    page.locator("input[name=current]").fill(approved["initial_password"])
    page.locator("input[name=new]").fill("short")
    page.locator("input[name=again]").fill("short")
    page.get_by_role("button", name="确定").click()
    expect(page.get_by_text("密码强度不足", exact=False)).to_be_visible()
    page.locator("input[name=new]").fill(STRONG)
    page.locator("input[name=again]").fill(STRONG)
    page.get_by_role("button", name="确定").click()
    # Straight to the admin's own organisation.
    expect(page.locator("[data-test=org-name]")).to_have_text("乙县委")


def test_a_branch_lists_its_members_and_an_id_number_is_revealed_only_on_request(
    running: Running, root_admin: Api, tree: Tree, page: Page
) -> None:
    base = running.system.gateway_url
    branch = root_admin.create_org(tree.county_a, f"网页支部{uuid.uuid4().hex[:4]}", "branch")
    branch_id = branch.json()["id"]
    records = list(people(3, random.Random(1313)))
    imported = root_admin.post(
        f"/orgs/{branch_id}/members/import", files={"file": ("团员.csv", as_csv(records))}
    )
    assert imported.status_code == 200, imported.text[:300]
    first = imported.json()["members"][0]

    page.goto(f"{base}/login?next=/orgs/{branch_id}")
    sign_in(page, "admin", STRONG)
    rows = page.locator(".el-table__body tr")
    expect(rows).to_have_count(3)
    search = page.get_by_placeholder("按姓名或团员编号查找")
    search.fill(first["name"])
    search.press("Enter")
    expect(rows).to_have_count(1)
    masked = first["id_number"]
    expect(rows.first).to_contain_text(masked)
    rows.first.click()

    expect(page.locator("[data-test=member-name]")).to_have_text(first["name"])
    expect(page.locator("[data-test=id-number]")).to_have_text(masked)
    page.get_by_role("button", name="查看完整号码").click()
    expect(page.get_by_text("将记录在审计日志中", exact=False)).to_be_visible()
    page.get_by_role("button", name="确定查看").click()
    whole = next(r["id_number"] for r in records if r["name"] == first["name"])
    expect(page.locator("[data-test=id-number]")).to_have_text(whole)
    # Read beside Playwright's own event loop, which holds this thread.
    with ThreadPoolExecutor(1) as aside:
        audited = aside.submit(
            running.db,
            "members",
            "SELECT count(*) AS n FROM audit_log WHERE target_id = $1 AND action LIKE '%reveal%'",
            first["id"],
        ).result()
    assert audited[0]["n"] == 1


def test_an_import_shows_every_bad_row_then_imports_the_corrected_sheet(
    running: Running, root_admin: Api, tree: Tree, page: Page, tmp_path: Path
) -> None:
    base = running.system.gateway_url
    branch_id = root_admin.create_org(
        tree.county_a, f"导入支部{uuid.uuid4().hex[:4]}", "branch"
    ).json()["id"]
    records = list(people(4, random.Random(1414)))
    broken = [dict(r) for r in records]
    broken[2]["id_number"] = "110101199001011234"  # a wrong check digit
    (tmp_path / "错误.csv").write_bytes(as_csv(broken))
    (tmp_path / "正确.csv").write_bytes(as_csv(records))

    page.goto(f"{base}/login?next=/orgs/{branch_id}")
    sign_in(page, "admin", STRONG)
    page.get_by_role("tab", name="导入团员").click()
    page.locator("[data-test=import-file]").set_input_files(tmp_path / "错误.csv")
    page.get_by_role("button", name="检查").click()
    errors = page.locator("[data-test=import-errors] .el-table__body tr")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("4")  # the header is row 1: the third person is row 4
    expect(errors.first).to_contain_text("身份证号")
    assert root_admin.get(f"/orgs/{branch_id}/members").json()["items"] == []

    page.locator("[data-test=import-file]").set_input_files(tmp_path / "正确.csv")
    page.get_by_role("button", name="检查").click()
    expect(page.locator("[data-test=import-done]")).to_contain_text("检查通过：4 行均可导入")
    page.locator("[data-test=dry-run]").click()
    page.get_by_role("button", name="导入").click()
    expect(page.locator("[data-test=import-done]")).to_contain_text("已导入 4 名团员")
    page.get_by_role("tab", name="团员", exact=True).click()
    expect(page.locator("#pane-members .el-table__body tr")).to_have_count(4)
    # Their activation codes, as the sheet the secretary prints and hands out.
    codes = eventually(  # identity makes the accounts from the import's event
        lambda: (
            len(c := root_admin.get(f"/orgs/{branch_id}/activation-codes").json()["items"]) == 4
            and c
        ),
        within=30,
        interval=0.3,
    )
    page.get_by_role("tab", name="激活码").click()
    sheet = page.locator("[data-test=activation-codes] .el-table__body tr")
    expect(sheet).to_have_count(len(codes))
    listed = {c["username"]: c["activation_code"] for c in codes}
    assert sorted(listed) == sorted(
        m["member_no"] for m in root_admin.get(f"/orgs/{branch_id}/members").json()["items"]
    )
    for username, code in listed.items():
        expect(sheet.filter(has_text=username)).to_contain_text(code)


def test_transfers_are_approved_out_and_sent_back_in_from_the_console(
    running: Running, root_admin: Api, tree: Tree, page: Page
) -> None:
    from .test_transfers import import_members, request_transfer

    base = running.system.gateway_url
    tag = uuid.uuid4().hex[:4]
    source = root_admin.create_org(tree.county_a, f"转出网页支部{tag}", "branch").json()["id"]
    target = root_admin.create_org(tree.county_b, f"转入网页支部{tag}", "branch").json()["id"]
    [mover] = import_members(root_admin, source, 1, seed=1616)
    asked = request_transfer(root_admin, mover["id"], target)
    assert asked.status_code == 201, asked.text

    page.goto(f"{base}/login?next=/orgs/{source}%3Ftab%3Dtransfers")
    sign_in(page, "admin", STRONG)
    row = page.locator("[data-test=transfers] .el-table__body tr").first
    expect(row).to_contain_text(mover["name"])
    expect(row).to_contain_text("待转出审批")
    expect(row).to_contain_text(f"转入网页支部{tag}")
    row.get_by_role("button", name="同意").click()
    expect(row).to_contain_text("待转入审批")
    expect(row.get_by_role("button", name="同意")).to_have_count(0)  # no longer this side's turn

    page.goto(f"{base}/orgs/{target}?tab=transfers")
    page.get_by_text("转入", exact=True).click()
    row = page.locator("[data-test=transfers] .el-table__body tr").first
    expect(row).to_contain_text("待转入审批")
    row.get_by_role("button", name="退回").click()
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_text("退回原因不能为空")).to_be_visible()
    page.locator(".el-message-box input").fill("接收团支部信息有误")
    page.get_by_role("button", name="提交").click()
    expect(row).to_contain_text("已退回")
    transfer = root_admin.get(f"/transfers/{asked.json()['id']}").json()
    assert transfer["status"] == "rejected"
