"""The whole system as real processes (the launcher behind `make up`), on throw-away databases, a
throw-away RabbitMQ vhost and its own ports, with spans written to a file we can read back."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from deploy.launcher import System, amqp_url_with_vhost, create_vhost, delete_vhost

REPO = Path(__file__).resolve().parents[2]
STRONG = "Tuan-Wei-2026!x"
PDF = b"%PDF-1.4\n% approval document\n"


@dataclass
class Running:
    system: System
    prefix: str
    span_file: Path
    bootstrap: dict[str, Any]

    def db(self, service: str, query: str, *args: object) -> list[asyncpg.Record]:
        """Read a service's database directly: only to see effects no API shows yet."""

        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(
                f"postgresql://postgres@127.0.0.1:5432/{self.prefix}_{service}"
            )
            try:
                return list(await conn.fetch(query, *args))
            finally:
                await conn.close()

        # In a thread of its own: a test driving the browser (Playwright's sync API) has an
        # event loop running in this one.
        with ThreadPoolExecutor(1) as thread:
            return thread.submit(asyncio.run, run()).result()

    def spans(self) -> list[dict[str, Any]]:
        if not self.span_file.exists():
            return []
        # The last line may be one a process is writing this instant: only whole lines count.
        # Split on "\n" alone: a fuzzed URL in an attribute may hold U+2028, which splitlines()
        # also takes for a line end.
        whole, _, _ = self.span_file.read_text().rpartition("\n")
        return [json.loads(line) for line in whole.split("\n") if line.strip()]


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    run = secrets.token_hex(3)
    prefix, vhost = f"test_e2e_{run}", f"test_e2e_{run}"
    var_dir = tmp_path_factory.mktemp("var")
    span_file = var_dir / "spans.jsonl"
    create_vhost(vhost)
    env = {
        "LEAGUE_DB_PREFIX": prefix,
        # Below the kernel's ephemeral range (32768 and up), where a client's outgoing
        # connection may hold a port when a service wants to listen on it.
        "LEAGUE_PORT_BASE": str(20000 + secrets.randbelow(63) * 200),
        "LEAGUE_AMQP_URL": amqp_url_with_vhost(vhost),
        "LEAGUE_VAR_DIR": str(var_dir),
        "LEAGUE_SPAN_FILE": str(span_file),
        # The contract pass sends a few thousand requests as one admin; the default limit
        # (20 a second) would make it wait minutes. The limit itself is tested in the gateway.
        "GATEWAY_RATE_PER_SECOND": "500",
        "LEAGUE_RETRY_DELAYS_MS": "[100,300]",
        # The stand-in payment provider: members pay online, callbacks are signed by the test.
        "FEES_PROVIDER": "fake",
        # Two fees-api processes on one port, as at the month-start peak: nothing in the API
        # may count on being the only one (the payment race below runs across both).
        "FEES_API_WORKERS": "2",
        "LEAGUE_ROOT_ORG_NAME": "共青团测试省委员会",
        "LEAGUE_ADMIN_USERNAME": "admin",
        "LEAGUE_ADMIN_PASSWORD": "",
    }
    system = System(REPO, env, output=var_dir / "system.log")
    try:
        system.prepare()
        system.start_all()
        system.wait_ready(timeout=120)
        result = system.bootstrap()
        wait_gateway_ready(system.gateway_url)
        yield Running(system, prefix, span_file, result)
    finally:
        system.shutdown()
        asyncio.run(drop_databases(prefix))
        delete_vhost(vhost)


def wait_gateway_ready(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gateway not ready: {httpx.get(f'{url}/readyz').text}")


async def drop_databases(prefix: str) -> None:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}_%"
        )
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


class Api:
    """A client of the public API, as one user."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=f"{base_url}/api/v1", headers=headers, timeout=30)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.patch(path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.put(path, **kw)

    def upload(self) -> str:
        r = self.post("/documents", files={"file": ("批复.pdf", PDF, "application/pdf")})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def create_org(self, parent: str, name: str, type_: str = "committee") -> httpx.Response:
        today = str(date.today())
        return self.post(
            "/orgs",
            json={
                "parent_id": parent,
                "name": name,
                "type": type_,
                "founded_on": today,
                "approved_on": today,
                "leader_name": "王书记",
                "leader_phone": "13800138000",
                "approval_document_id": self.upload(),
            },
        )


def login(base_url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    )


MEMBER_PASSWORD = "Member-Pass-2026"


def not_yet_known(response: httpx.Response) -> bool:
    """The answer of a service that learns organisations by event (identity, fees, activities)
    for one created a moment before: 404 `org.not_found` until the event has reached it, which a
    client asks again, as it would a page still loading."""
    return response.status_code == 404 and response.json().get("code") == "org.not_found"


def activate_member(running: Running, admin: Api, branch: str, record: dict[str, Any]) -> Api:
    """An imported member, activated with the code the branch lists (once identity has made
    the account from the import's event), logged in."""

    def code() -> str | None:
        listed = admin.get(f"/orgs/{branch}/activation-codes", params={"limit": 500})
        if not_yet_known(listed):
            return None
        page = listed.json()
        mine = [i["activation_code"] for i in page["items"] if i["member_id"] == record["id"]]
        return mine[0] if mine else None

    activated = admin.post(
        "/auth/activate",
        json={
            "username": record["member_no"],
            "activation_code": eventually(code, within=30, interval=0.3),
            "new_password": MEMBER_PASSWORD,
        },
    )
    assert activated.status_code == 204, activated.text
    r = login(running.system.gateway_url, record["member_no"], MEMBER_PASSWORD)
    assert r.status_code == 200, r.text
    return Api(running.system.gateway_url, r.json()["access_token"])


def first_login(
    base_url: str, username: str, initial_password: str, new_password: str = STRONG
) -> Api:
    """Log in with a one-time password, change it as forced, and log in again."""
    r = login(base_url, username, initial_password)
    assert r.status_code == 200, r.text
    assert r.json()["must_change_password"] is True
    restricted = Api(base_url, r.json()["access_token"])
    changed = restricted.post(
        "/auth/password", json={"current_password": initial_password, "new_password": new_password}
    )
    assert changed.status_code == 204, changed.text
    again = login(base_url, username, new_password)
    assert again.status_code == 200 and again.json()["must_change_password"] is False
    return Api(base_url, again.json()["access_token"])


@dataclass
class Tree:
    root: str
    city: str
    county_a: str
    county_b: str
    branch_a: str
    branch_b: str


@pytest.fixture(scope="session")
def root_admin(running: Running) -> Api:
    return first_login(running.system.gateway_url, "admin", running.bootstrap["initial_password"])


@pytest.fixture(scope="session")
def tree(running: Running, root_admin: Api) -> Tree:
    root = running.bootstrap["root_org_id"]
    city = root_admin.create_org(root, "测试市委").json()["id"]
    county_a = root_admin.create_org(city, "甲县委").json()["id"]
    county_b = root_admin.create_org(city, "乙县委").json()["id"]
    branch_a = root_admin.create_org(county_a, "甲县第一团支部", "branch").json()["id"]
    branch_b = root_admin.create_org(county_b, "乙县第一团支部", "branch").json()["id"]
    return Tree(root, city, county_a, county_b, branch_a, branch_b)


def eventually(check: Any, within: float = 10.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s; last value: {value!r}")
        time.sleep(interval)


# --- the web console in a real browser (Debian's Chromium, driven by Playwright) ------------

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


# Screenshots of the screens the tests pass through: test artefacts, for a person to look at.
SCREENSHOTS = REPO / ".run" / "artifacts" / "console"
AXE = REPO / "gateway" / "console" / "node_modules" / "axe-core" / "axe.min.js"


def new_page(browser: Browser, *, phone: bool = False) -> Page:
    viewport = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 800}
    context = browser.new_context(locale="zh-CN", viewport=viewport, is_mobile=phone)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    return opened


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    opened = new_page(browser)
    yield opened
    screenshot(opened, request.node.name)
    opened.context.close()


def pick_date(page: Page, label: str, day: str) -> None:
    """Type a day into an Element Plus date picker, as a keyboard user does."""
    field = page.get_by_label(label, exact=True)
    field.fill(day)
    field.press("Enter")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def serious_accessibility_problems(page: Page) -> list[str]:
    """What axe-core (the console's own copy) finds serious or critical against WCAG 2 A/AA on
    the screen as it stands: controls without labels, contrast below AA, broken structure."""
    # Evaluated, not added as a <script>: the console's policy (script-src 'self') rightly
    # refuses inline scripts, and the browser's own evaluation is not a page script.
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    # Colours as they end, not halfway through a fade-in (a tag that just appeared).
    page.add_style_tag(content="*, *::before, *::after { transition: none !important; }")
    page.wait_for_timeout(400)
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {
                runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
            });
            return result.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => `${v.id}: ${v.help} @ ${v.nodes.map((n) => `${n.target.join(" ")} (${n.failureSummary})`).join(", ")}`);
        }"""
    )
    return list(found)


def sign_in(page: Page, username: str, password: str) -> None:
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="登录").click()
