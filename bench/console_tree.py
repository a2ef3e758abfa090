"""The web console's organisation tree over a province of N organisations (default 50,000).

Brings up a throw-away system as operators run it (spans over OTLP to a stand-in collector, INFO
logs), seeds root → 20 cities → counties → branches straight into org's table and every
service's copy (COPY), then in Debian's Chromium (Playwright), signed in as the root admin:

1. the console's first screen: from asking for `/` to the tree's root drawn;
2. the first level: from opening the root to its 20 cities drawn;
3. a city's level: from opening a city to its counties drawn;

each the median of a few tries, beside the lower bound: the same `GET /orgs/{id}/children`
through the gateway from Python, and `SELECT … WHERE parent_id = $1` on org's database; and the
tree's search by a part of a name over the whole province (`GET /orgs/{root}/search?q=`).

    .venv/bin/python bench/console_tree.py [--orgs 50000] [--tries 5]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import time
import uuid

import asyncpg
from common import PASSWORD, Bench, copy_org_tree, running_system, traced_as_operators_run
from playwright.sync_api import Page, sync_playwright

PORT_BASE = 29000  # below the ephemeral range: a health probe cannot meet itself
SINK_PORT = PORT_BASE + 191
CITIES = 20
COUNTIES_PER_CITY = 124
CHILDREN_SQL = "SELECT * FROM orgs WHERE parent_id = $1 ORDER BY name LIMIT 500"
SEARCH_SQL = (
    "SELECT * FROM orgs WHERE path @> ARRAY[$1::uuid] AND name ILIKE $2 "
    "ORDER BY cardinality(path), name, id LIMIT 50"
)


def province(
    root: uuid.UUID, total: int
) -> list[tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], str, str]]:
    """(id, parent, path, name, type): 20 cities, 124 counties each, the rest branches."""
    nodes = []
    cities = [uuid.uuid4() for _ in range(CITIES)]
    nodes += [(c, root, [root, c], f"第{n + 1:02d}市委", "committee") for n, c in enumerate(cities)]
    counties = [(uuid.uuid4(), c, n) for c in cities for n in range(COUNTIES_PER_CITY)]
    nodes += [(k, c, [root, c, k], f"第{n + 1:03d}县委", "committee") for k, c, n in counties]
    for n in range(max(0, total - len(nodes))):
        county, city, _ = counties[n % len(counties)]
        branch = uuid.uuid4()
        nodes.append((branch, county, [root, city, county, branch], f"第{n + 1}团支部", "branch"))
    return nodes


async def seed(bench: Bench, root: uuid.UUID, total: int) -> list[uuid.UUID]:
    nodes = province(root, total)
    await copy_org_tree(bench.db_url, nodes)
    return [i for i, _, _, _, kind in nodes[:CITIES] if kind == "committee"]


def timed(action, done) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    action()
    done()
    return (time.perf_counter() - started) * 1000


def tree_node(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(".el-tree-node__content").filter(has_text=name).first


def console_figures(bench: Bench, root_name: str, city: str, tries: int) -> dict[str, list[float]]:
    chromium = shutil.which("chromium")
    assert chromium, "`make browser` installs Debian's Chromium"
    figures: dict[str, list[float]] = {
        "first screen": [],
        "root's 20 cities": [],
        "a city's counties": [],
    }
    base = bench.system.gateway_url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/login")
        page.locator("input[name=username]").fill("admin")
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        tree_node(page, root_name).wait_for()
        for _ in range(tries):
            figures["first screen"].append(
                timed(lambda: page.goto(f"{base}/"), lambda: tree_node(page, root_name).wait_for())
            )
            figures["root's 20 cities"].append(
                timed(
                    lambda: (
                        tree_node(page, root_name).locator(".el-tree-node__expand-icon").click()
                    ),
                    lambda: tree_node(page, "第20市委").wait_for(),
                )
            )
            figures["a city's counties"].append(
                timed(
                    lambda: tree_node(page, city).locator(".el-tree-node__expand-icon").click(),
                    lambda: (
                        page.locator(".el-tree-node__content")
                        .filter(has_text="第124县委")
                        .first.wait_for()
                    ),
                )
            )
        browser.close()
    return figures


def bounds(bench: Bench, root: uuid.UUID, city: uuid.UUID, tries: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {
        "GET /orgs/{root}/children (Python)": [],
        "SELECT children of a city": [],
        "GET /orgs/{root}/search?q= (Python)": [],
        "SELECT … name ILIKE over the province": [],
    }
    for _ in range(tries):
        found["GET /orgs/{root}/children (Python)"].append(
            timed(
                lambda: bench.api.get(
                    f"/orgs/{root}/children", params={"limit": 500}
                ).raise_for_status(),
                lambda: None,
            )
        )

    for n in range(tries):
        found["GET /orgs/{root}/search?q= (Python)"].append(
            timed(
                lambda n=n: bench.api.get(  # type: ignore[misc]
                    f"/orgs/{root}/search", params={"q": f"第{4000 + n}团支部"}
                ).raise_for_status(),
                lambda: None,
            )
        )

    async def sql() -> None:
        conn = await asyncpg.connect(bench.db_url("org"))
        try:
            for _ in range(tries):
                started = time.perf_counter()
                await conn.fetch(CHILDREN_SQL, city)
                found["SELECT children of a city"].append((time.perf_counter() - started) * 1000)
            for n in range(tries):
                started = time.perf_counter()
                await conn.fetch(SEARCH_SQL, root, f"%第{5000 + n}团支部%")
                found["SELECT … name ILIKE over the province"].append(
                    (time.perf_counter() - started) * 1000
                )
        finally:
            await conn.close()

    asyncio.run(sql())
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--tries", type=int, default=5)
    args = parser.parse_args()
    with (
        traced_as_operators_run(SINK_PORT) as tracing,
        running_system(PORT_BASE, **tracing) as bench,
    ):
        root = uuid.UUID(bench.boot["root_org_id"])
        root_name = bench.api.get(f"/orgs/{root}").json()["name"]
        cities = asyncio.run(seed(bench, root, args.orgs))
        counted = bench.api.get(f"/orgs/{root}/children", params={"limit": 500}).json()["items"]
        print(f"{args.orgs:,} organisations seeded; the root has {len(counted)} children")
        figures = console_figures(bench, root_name, "第01市委", args.tries)
        figures |= bounds(bench, root, cities[0], args.tries)
        print(f"{'':40} {'median ms':>10} {'max ms':>10}")
        for name, values in figures.items():
            print(f"{name:40} {statistics.median(values):10.1f} {max(values):10.1f}")


if __name__ == "__main__":
    main()
