"""The web console in a real browser (Debian's Chromium, driven by Playwright) against the
running system: sign-in with its Chinese errors, the first-login password change, the
organisation tree and pages, a branch's members with search, and a member's record with the ID
number masked until an audited reveal. The console is what the gateway serves at `/`."""

from __future__ import annotations

import random
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from members.fakes import as_csv, people

from .conftest import STRONG, Api, Running, Tree
from .test_platform import approve_admin

# As the machine notes say: no sandbox as root, and nothing reaching for Google's hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is missing: `make browser` installs Debian's"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def sign_in(page: Page, username: str, password: str) -> None:
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="登录").click()


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
