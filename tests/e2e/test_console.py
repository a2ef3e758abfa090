"""The web console in a real browser (Debian's Chromium, driven by Playwright) against the
running system: sign-in with its Chinese errors, the first-login password change, the
organisation tree and pages, a branch's members with search, and a member's record with the ID
number masked until an audited reveal. The console is what the gateway serves at `/`."""

from __future__ import annotations

import gzip
import random
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from members.fakes import as_csv, people
from shared.calendar import beijing_today

from .conftest import (
    MEMBER_PASSWORD,
    PDF,
    STRONG,
    Api,
    Running,
    Tree,
    activate_member,
    eventually,
    new_page,
    pick_date,
    screenshot,
    serious_accessibility_problems,
    sign_in,
)
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
    # Any organisation of the subtree by a part of its name, without opening the levels.
    search = page.get_by_label("按名称查找组织")
    search.fill("第一团支部")
    search.press("Enter")
    found = page.locator("[data-test=org-found]")
    expect(found).to_contain_text("甲县第一团支部")
    found.get_by_role("link", name="乙县第一团支部").click()
    expect(page.locator("[data-test=org-name]")).to_have_text("乙县第一团支部")
    search.fill("没有这个组织")
    search.press("Enter")
    expect(found).to_contain_text("没有名称含“没有这个组织”的组织")


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


def test_a_branch_is_created_imported_activated_and_a_key_change_approved_in_the_console(
    running: Running, root_admin: Api, tree: Tree, browser: Browser, page: Page, tmp_path: Path
) -> None:
    """The issue's journey: an admin creates a branch, imports a sheet with two bad rows and
    sees both, imports the corrected sheet; a member activates with the printed code, asks to
    change a key field; the admin approves it and the record holds the new value."""
    base = running.system.gateway_url
    name = f"旅程支部{uuid.uuid4().hex[:4]}"
    page.goto(f"{base}/login?next=/orgs/{tree.county_a}")
    sign_in(page, "admin", STRONG)
    page.get_by_role("button", name="新建下级组织").click()
    dialog = page.get_by_role("dialog", name="新建下级组织")
    dialog.locator("[data-test=create-org]").click()
    expect(dialog.get_by_text("请上传上级的批准文件")).to_be_visible()  # nothing sent half-filled
    dialog.locator("input[name=org-name]").fill(name)
    pick_date(page, "成立时间", "2026-03-01")
    pick_date(page, "批准时间", "2026-03-02")
    dialog.locator("input[name=leader-name]").fill("赵书记")
    dialog.locator("input[name=leader-phone]").fill("13800138000")
    dialog.locator("input[name=approval-document]").set_input_files(
        {"name": "批复.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    screenshot(page, "org-create")
    dialog.locator("[data-test=create-org]").click()
    expect(page.locator("[data-test=org-name]")).to_have_text(name)
    branch_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    assert root_admin.get(f"/orgs/{branch_id}").json()["parent_id"] == str(tree.county_a)
    # The approval document it was created with, as the county filed it.
    with page.expect_download() as approval:
        page.locator("[data-test=org-details]").get_by_role("button", name="下载").click()
    assert approval.value.suggested_filename == "批复.pdf"  # as it was uploaded
    assert Path(approval.value.path()).read_bytes() == PDF
    page.get_by_role("button", name="修改信息").click()
    page.locator("input[name=edit-leader-name]").fill("孙书记")
    page.get_by_role("dialog", name="修改组织信息").get_by_role("button", name="保存").click()
    expect(page.locator(".el-descriptions")).to_contain_text("孙书记")

    records = list(people(4, random.Random(1414)))
    broken = [dict(r) for r in records]
    broken[1]["id_number"] = "110101199001011234"  # a wrong check digit
    broken[3]["birth_date"] = "不详"  # not a date
    (tmp_path / "错误.csv").write_bytes(as_csv(broken))
    (tmp_path / "正确.csv").write_bytes(as_csv(records))
    page.get_by_role("tab", name="导入团员").click()
    page.locator("[data-test=import-file]").set_input_files(tmp_path / "错误.csv")
    page.get_by_role("button", name="检查").click()
    errors = page.locator("[data-test=import-errors] .el-table__body tr")
    expect(errors).to_have_count(2)
    # The header is row 1: the second person is row 3, the fourth row 5.
    expect(errors.nth(0)).to_contain_text("3")
    expect(errors.nth(0)).to_contain_text("身份证号")
    expect(errors.nth(1)).to_contain_text("5")
    expect(errors.nth(1)).to_contain_text("出生日期")
    screenshot(page, "import-errors")
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
    screenshot(page, "activation-codes")

    # The member, on a phone: activation with the printed code, then a key field.
    member = codes[0]
    phone = new_page(browser, phone=True)
    phone.goto(f"{base}/login")
    phone.get_by_role("link", name="激活账号").click()
    expect(phone.get_by_role("heading", name="激活账号")).to_be_visible()
    phone.locator("input[name=username]").fill(member["username"])
    phone.locator("input[name=code]").fill("000000")
    phone.locator("input[name=new]").fill(STRONG)
    phone.locator("input[name=again]").fill(STRONG)
    phone.get_by_role("button", name="激活").click()
    expect(phone.get_by_text("激活码不正确或已过期")).to_be_visible()
    phone.locator("input[name=code]").fill(member["activation_code"])
    phone.get_by_role("button", name="激活").click()
    expect(phone).to_have_url(f"{base}/login?username={member['username']}")
    phone.locator("input[name=password]").fill(STRONG)
    phone.get_by_role("button", name="登录").click()
    expect(phone.locator("[data-test=my-record]")).to_contain_text(member["name"])
    phone.get_by_role("tab", name="修改").click()
    phone.locator("input[name=key-name]").fill("新名字")
    phone.get_by_role("button", name="提交申请").click()
    expect(phone.get_by_text("请填写修改理由")).to_be_visible()
    phone.locator("textarea[name=reason]").fill("户籍姓名已变更")
    phone.get_by_role("button", name="提交申请").click()
    expect(phone.locator("[data-test=change-requested]")).to_contain_text("团支部将在")
    screenshot(phone, "member-change-request")
    phone.context.close()

    # The branch approves it from its reviews; the record holds the new name.
    page.get_by_role("tab", name="审核").click()
    row = page.locator("[data-test=reviews] .el-table__body tr").filter(has_text="新名字")
    expect(row).to_contain_text("姓名")
    expect(row).to_contain_text("户籍姓名已变更")
    screenshot(page, "reviews")
    row.get_by_role("button", name="通过").click()
    expect(page.get_by_text("已通过")).to_be_visible()
    expect(page.locator("[data-test=reviews] .el-table__body tr")).to_have_count(0)
    assert root_admin.get(f"/members/{member['member_id']}").json()["name"] == "新名字"


def test_a_forgotten_password_is_reset_with_a_code_the_branch_issues(
    running: Running, root_admin: Api, tree: Tree, browser: Browser, page: Page
) -> None:
    from .test_transfers import import_members

    base = running.system.gateway_url
    branch = root_admin.create_org(tree.county_a, f"找回支部{uuid.uuid4().hex[:4]}", "branch")
    [person] = import_members(root_admin, branch.json()["id"], 1, seed=1717)
    username = eventually(
        lambda: root_admin.get(f"/members/{person['id']}/account").json().get("username"),
        within=30,
        interval=0.3,
    )
    page.goto(f"{base}/login?next=/members/{person['id']}")
    sign_in(page, "admin", STRONG)
    account = page.locator("[data-test=member-account]")
    expect(account).to_contain_text(username)
    expect(account).to_contain_text("待激活")
    account.get_by_role("button", name="生成一次性验证码（忘记密码）").click()
    code = page.locator("[data-test=one-time-code]")
    expect(code).to_have_text(re.compile(r"\S{6,}"))
    issued = code.inner_text().strip()

    phone = new_page(browser, phone=True)
    phone.goto(f"{base}/login")
    phone.get_by_role("link", name="忘记密码").click()
    expect(phone.get_by_role("heading", name="找回密码")).to_be_visible()
    expect(phone.locator("[data-test=activate-hint]")).to_contain_text("一次性验证码")
    phone.locator("input[name=username]").fill(username)
    phone.locator("input[name=code]").fill(issued)
    phone.locator("input[name=new]").fill("short")
    phone.locator("input[name=again]").fill("short")
    phone.get_by_role("button", name="设置新密码").click()
    expect(phone.get_by_text("密码强度不足", exact=False)).to_be_visible()
    phone.locator("input[name=new]").fill(STRONG)
    phone.locator("input[name=again]").fill(STRONG)
    phone.get_by_role("button", name="设置新密码").click()
    phone.locator("input[name=password]").fill(STRONG)
    phone.get_by_role("button", name="登录").click()
    expect(phone.locator("[data-test=my-record]")).to_contain_text(person["name"])
    assert serious_accessibility_problems(phone) == []
    phone.get_by_role("tab", name="修改").click()
    expect(phone.locator("input[name=key-name]")).to_be_visible()
    assert serious_accessibility_problems(phone) == []
    screenshot(phone, "member-phone")
    phone.context.close()


def test_transfers_go_out_and_in_or_are_sent_back_from_the_console(
    running: Running, root_admin: Api, tree: Tree, page: Page
) -> None:
    """One member moves: the old branch approves out, the new one approves in, and the record
    is in the new branch. Another is sent back by the new branch, with a reason it must give."""
    from .test_transfers import import_members, request_transfer

    base = running.system.gateway_url
    tag = uuid.uuid4().hex[:4]
    source = root_admin.create_org(tree.county_a, f"转出网页支部{tag}", "branch").json()["id"]
    target = root_admin.create_org(tree.county_b, f"转入网页支部{tag}", "branch").json()["id"]
    mover, returned = import_members(root_admin, source, 2, seed=1616)
    asked = {}
    for person in (mover, returned):
        asked[person["id"]] = request_transfer(root_admin, person["id"], target)
        assert asked[person["id"]].status_code == 201, asked[person["id"]].text

    page.goto(f"{base}/login?next=/orgs/{source}%3Ftab%3Dtransfers")
    sign_in(page, "admin", STRONG)
    rows = page.locator("[data-test=transfers] .el-table__body tr")
    for person in (mover, returned):
        row = rows.filter(has_text=person["name"])
        expect(row).to_contain_text("待转出审批")
        expect(row).to_contain_text(f"转入网页支部{tag}")
        row.get_by_role("button", name="同意").click()
        expect(row).to_contain_text("待转入审批")
        expect(row.get_by_role("button", name="同意")).to_have_count(0)  # the other side's turn

    page.goto(f"{base}/orgs/{target}?tab=transfers")
    page.get_by_text("转入", exact=True).click()
    moving = rows.filter(has_text=mover["name"])
    moving.get_by_role("button", name="同意").click()
    expect(moving).to_contain_text("已完成")
    # The record follows by the transfer's event.
    eventually(
        lambda: root_admin.get(f"/members/{mover['id']}").json()["branch_id"] == target,
        within=30,
        interval=0.3,
    )

    sent_back = rows.filter(has_text=returned["name"])
    sent_back.get_by_role("button", name="退回").click()
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_text("退回原因不能为空")).to_be_visible()
    page.locator(".el-message-box input").fill("接收团支部信息有误")
    page.get_by_role("button", name="提交").click()
    expect(sent_back).to_contain_text("已退回")
    transfer = root_admin.get(f"/transfers/{asked[returned['id']].json()['id']}").json()
    assert transfer["status"] == "rejected"


def initial_javascript(page: Page, url: str) -> int:
    """Bytes of JavaScript, gzipped as served, that a first visit to `url` loads."""
    scripts: dict[str, bytes] = {}
    page.on(
        "response",
        lambda r: scripts.setdefault(r.url, r.body()) if r.url.endswith(".js") else None,
    )
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return sum(len(gzip.compress(body, 9)) for body in scripts.values())


def test_the_console_is_light_keyboard_usable_and_accessible(
    running: Running, root_admin: Api, tree: Tree, browser: Browser, page: Page
) -> None:
    from .test_transfers import import_members

    base = running.system.gateway_url
    # The first visit: at most 300 KB of JavaScript gzipped; screens load as they are opened.
    assert initial_javascript(page, f"{base}/login") <= 300 * 1024
    # The tab order of sign-in: user name, password, the button, then the links below it.
    page.locator("input[name=username]").focus()
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate(
                "document.activeElement.name || document.activeElement.textContent.trim()"
            )
        )
    assert order == ["password", "登录", "激活账号", "忘记密码"]
    assert serious_accessibility_problems(page) == []

    branch = root_admin.create_org(tree.county_a, f"无障碍支部{uuid.uuid4().hex[:4]}", "branch")
    branch_id = branch.json()["id"]
    [person] = import_members(root_admin, branch_id, 1, seed=1818)
    sign_in(page, "admin", STRONG)
    expect(page.locator("[data-test=org-name]")).to_be_visible()
    assert serious_accessibility_problems(page) == []
    page.goto(f"{base}/orgs/{branch_id}")
    expect(page.locator(".el-table__body tr")).to_have_count(1)
    assert serious_accessibility_problems(page) == []
    for tab in (
        "导入团员",
        "团费收缴",
        "审核",
        "组织关系转接",
        "团费统计",
        "团费上缴",
        "团费使用",
        "活动",
        "管理员",
        "安全检查",
    ):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_load_state("networkidle")
        assert serious_accessibility_problems(page) == [], tab
    page.goto(f"{base}/members/{person['id']}")
    expect(page.locator("[data-test=member-name]")).to_have_text(person["name"])
    assert serious_accessibility_problems(page) == []


def test_a_read_only_maintenance_window_shows_everywhere_and_turns_writing_off(
    running: Running, root_admin: Api, tree: Tree, page: Page
) -> None:
    base = running.system.gateway_url
    now = datetime.now(UTC).replace(microsecond=0)
    page.goto(f"{base}/login?next=/announcements")
    sign_in(page, "admin", STRONG)
    page.get_by_text("系统维护", exact=True).click()
    page.locator("input[name=title]").fill("系统升级")
    page.locator("textarea[name=body]").fill("升级期间只能查看，不能提交。")
    for label, at in (
        ("开始时间", now - timedelta(minutes=1)),
        ("结束时间", now + timedelta(minutes=20)),
    ):
        pick_date(page, label, at.strftime("%Y-%m-%d %H:%M:%S"))
    page.get_by_text("维护期间系统只读", exact=False).click()
    page.get_by_role("button", name="发布").click()
    listed = page.locator("[data-test=announcement-list] .el-table__body tr").filter(
        has_text="系统升级"
    )
    try:
        expect(listed).to_contain_text("只读维护")
        # Every screen says so, and what would write is off; reading goes on.
        page.goto(f"{base}/orgs/{tree.city}")
        expect(page.locator("[data-test=announcements]")).to_contain_text(
            "系统维护中，当前仅可查看"
        )
        expect(page.get_by_role("button", name="新建下级组织")).to_be_disabled()
        expect(page.get_by_role("cell", name="甲县委")).to_be_visible()
        screenshot(page, "maintenance")
        page.goto(f"{base}/login")
        expect(page.locator("[data-test=announcements]")).to_contain_text("系统升级")
    finally:
        # Ended early from the console; the API as a fallback, so no later test runs read-only.
        page.goto(f"{base}/announcements")
        listed.get_by_role("button", name="撤回").click()
        expect(listed).to_have_count(0)
        for a in root_admin.get("/announcements/active").json()["items"]:
            if a["read_only"]:
                root_admin.post(f"/announcements/{a['id']}/withdraw")
    page.goto(f"{base}/orgs/{tree.city}")
    expect(page.get_by_role("button", name="新建下级组织")).to_be_enabled()


PNG = (  # a 1×1 picture, as a phone's photo would be for the summary
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81"
    b"\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_activities_are_published_signed_up_for_on_the_phone_and_summarised_with_photos(
    running: Running, root_admin: Api, tree: Tree, browser: Browser, page: Page
) -> None:
    from .test_transfers import import_members

    base = running.system.gateway_url
    branch = root_admin.create_org(tree.county_a, f"活动支部{uuid.uuid4().hex[:4]}", "branch")
    branch_id = branch.json()["id"]
    [person] = import_members(root_admin, branch_id, 1, seed=1919)
    activate_member(running, root_admin, branch_id, person)
    now = datetime.now(UTC).replace(microsecond=0)
    # One under way that ends in a moment, to be summarised once over (the activities service
    # learns of the branch by its event).
    ending = {
        "title": "刚结束的植树",
        "theme": "绿色青春",
        "place": "河边",
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(seconds=5)).isoformat(),
    }
    made = eventually(
        lambda: (
            (r := root_admin.post(f"/orgs/{branch_id}/activities", json=ending)).status_code != 404
            and r
        ),
        within=30,
        interval=0.3,
    )
    assert made.status_code == 201, made.text

    page.goto(f"{base}/login?next=/orgs/{branch_id}%3Ftab%3Dactivities")
    sign_in(page, "admin", STRONG)
    page.get_by_role("button", name="发布活动").click()
    dialog = page.get_by_role("dialog", name="发布活动")
    dialog.locator("input[name=activity-title]").fill("主题团日")
    dialog.locator("input[name=activity-theme]").fill("学习二十大精神")
    dialog.locator("input[name=activity-place]").fill("团支部活动室")
    for label, at in (
        ("开始时间", now + timedelta(days=3)),
        ("结束时间", now + timedelta(days=3, hours=2)),
    ):
        pick_date(page, label, at.strftime("%Y-%m-%d %H:%M:%S"))
    dialog.get_by_label("名额").fill("30")
    dialog.get_by_role("button", name="发布").click()
    rows = page.locator("[data-test=activities] .el-table__body tr")
    expect(rows.filter(has_text="主题团日")).to_contain_text("0 / 30")

    # The member, on the phone: the branch's activity, signed up for.
    phone = new_page(browser, phone=True)
    phone.goto(f"{base}/login")
    sign_in(phone, person["member_no"], MEMBER_PASSWORD)
    phone.get_by_role("tab", name="活动").click()
    card = phone.locator("[data-test=my-activity]").filter(has_text="主题团日")
    expect(card).to_contain_text("剩余名额 30")
    card.get_by_role("button", name="报名").click()
    expect(card).to_contain_text("已报名")
    expect(card).to_contain_text("剩余名额 29")
    phone.reload()  # the place is the service's to remember, not the page's
    phone.get_by_role("tab", name="活动").click()
    expect(card).to_contain_text("已报名")
    over = phone.locator("[data-test=my-activity]").filter(has_text="刚结束的植树")
    expect(over.get_by_role("button", name="报名已截止")).to_be_disabled()
    assert serious_accessibility_problems(phone) == []
    screenshot(phone, "member-activities")
    phone.context.close()

    while datetime.now(UTC) < now + timedelta(seconds=6):  # the other one is over by now
        time.sleep(0.5)
    page.reload()
    held = rows.filter(has_text="主题团日")
    expect(held).to_contain_text("1 / 30")
    held.get_by_role("button", name="报名名单").click()
    expect(page.locator("[data-test=signups] .el-table__body tr")).to_contain_text(person["name"])
    page.keyboard.press("Escape")

    past = rows.filter(has_text="刚结束的植树")
    expect(past).to_contain_text("待总结")
    past.get_by_role("button", name="写总结").click()
    summary = page.get_by_role("dialog", name="活动总结：刚结束的植树")
    summary.locator("textarea[name=summary-text]").fill("种下 50 棵树。")
    summary.locator("input[name=photos]").set_input_files(
        [{"name": f"{n}.png", "mimeType": "image/png", "buffer": PNG} for n in (1, 2)]
    )
    summary.get_by_role("button", name="保存").click()
    expect(past).to_contain_text("已总结")
    # Its photos, shown when the summary is opened again.
    past.get_by_role("button", name="修改总结").click()
    shown = page.locator("[data-test=summary-photos] img")
    expect(shown).to_have_count(2)
    expect(shown.first).to_have_js_property("naturalWidth", 1)
    page.keyboard.press("Escape")
    screenshot(page, "activities")
    listed = root_admin.get(f"/orgs/{branch_id}/activities").json()["items"]
    [done] = [a for a in listed if a["title"] == "刚结束的植树"]
    assert done["summary"]["text"] == "种下 50 棵树。"
    assert len(done["summary"]["photo_document_ids"]) == 2


def test_a_member_asks_for_a_transfer_on_the_phone_and_follows_it(
    running: Running, root_admin: Api, tree: Tree, browser: Browser
) -> None:
    from .test_transfers import import_members

    base = running.system.gateway_url
    tag = uuid.uuid4().hex[:4]
    source = root_admin.create_org(tree.county_a, f"手机转出支部{tag}", "branch").json()["id"]
    target = root_admin.create_org(tree.county_b, f"手机转入支部{tag}", "branch").json()["id"]
    [person] = import_members(root_admin, source, 1, seed=2020)
    activate_member(running, root_admin, source, person)

    phone = new_page(browser, phone=True)
    phone.goto(f"{base}/login")
    sign_in(phone, person["member_no"], MEMBER_PASSWORD)
    phone.get_by_role("tab", name="转接").click()
    phone.locator("input[name=to-org]").fill(source)
    phone.get_by_role("button", name="提交申请").click()
    expect(phone.get_by_text("转入团支部与现在的团支部相同")).to_be_visible()
    phone.locator("input[name=to-org]").fill(target)

    def asked() -> bool:  # the transfers service learns of the member by events
        # A try whose answer rendered after the check went in: the button is gone, the
        # transfer is shown; clicking again would wait for a button that never comes back.
        if phone.locator("[data-test=my-transfer]").count() == 0:
            submit = phone.get_by_role("button", name="提交申请")
            if submit.count() == 1:
                submit.click()
                phone.wait_for_load_state("networkidle")
        return phone.locator("[data-test=my-transfer]").count() == 1

    eventually(asked, within=30, interval=1)
    mine = phone.locator("[data-test=my-transfer]")
    expect(mine).to_contain_text("待转出团支部审批")
    expect(phone.get_by_role("button", name="提交申请")).to_have_count(0)  # one at a time
    mine.get_by_role("button", name="撤回申请").click()
    expect(mine).to_contain_text("已撤回")
    expect(phone.get_by_role("button", name="提交申请")).to_be_visible()
    phone.context.close()


def test_a_county_spot_checks_its_branches_records_and_appoints_an_admin(
    running: Running, root_admin: Api, tree: Tree, browser: Browser, page: Page
) -> None:
    from .test_transfers import import_members

    base = running.system.gateway_url
    tag = uuid.uuid4().hex[:4]
    # A city of its own: the shared tree's counties stay as the other modules count them.
    city = root_admin.create_org(tree.root, f"抽查市委{tag}").json()["id"]
    county = root_admin.create_org(city, f"抽查县委{tag}").json()["id"]
    branch = root_admin.create_org(county, f"被抽查支部{tag}", "branch").json()["id"]
    people_of_branch = import_members(root_admin, branch, 2, seed=2121)
    # The records were written today, as the spot check counts days: in Beijing time (from 16:00
    # UTC the UTC date is a day behind, and the period would hold nothing).
    today = beijing_today().isoformat()

    page.goto(f"{base}/login?next=/orgs/{county}%3Ftab%3Dspot-checks")
    sign_in(page, "admin", STRONG)
    pick_date(page, "修改时间从", today)
    pick_date(page, "修改时间到", today)
    page.get_by_label("抽查比例（%）").fill("100")
    page.get_by_role("button", name="抽取").click()
    expect(page.locator("[data-test=spot-check]")).to_contain_text("中，抽取 2 份")
    items = page.locator("[data-test=spot-items] .el-table__body tr")
    expect(items).to_have_count(2)
    first, second = (items.filter(has_text=p["name"]) for p in people_of_branch)
    first.get_by_role("button", name="准确").click()
    expect(first).to_contain_text("准确")
    second.get_by_role("button", name="有误").click()
    page.locator(".el-message-box textarea, .el-message-box input").first.fill("入团时间与档案不符")
    page.get_by_role("button", name="提交").click()
    expect(second).to_contain_text("已要求整改")
    accuracy = page.locator("[data-test=accuracy] .el-table__body tr").filter(has_text="被抽查支部")
    expect(accuracy).to_contain_text("50.0%")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "spot-checks")

    # The county's new admin, from its application form to a first sign-in.
    username = f"county{tag}"
    page.goto(f"{base}/orgs/{county}?tab=admins")
    page.locator("input[name=responsible-name]").fill("钱书记")
    page.locator("input[name=responsible-phone]").fill("13900139000")
    page.locator("input[name=requested-username]").fill(username)
    page.locator("input[name=application-form]").set_input_files(
        {"name": "申请表.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_role("button", name="提交申请").click()
    page.locator("[data-test=application]").get_by_role("button", name="批准", exact=True).click()
    password = page.locator("[data-test=initial-password]")
    expect(password).not_to_be_empty()
    initial = password.inner_text().strip()
    page.keyboard.press("Escape")
    expect(page.locator("[data-test=org-admins]")).to_contain_text(username)

    other = new_page(browser)
    other.goto(f"{base}/login")
    sign_in(other, username, initial)
    expect(other.get_by_text("首次登录须先修改初始密码。")).to_be_visible()
    other.context.close()
