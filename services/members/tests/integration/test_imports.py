"""Batch import from .xlsx and .csv: every problem listed, nothing half-written, retries harmless."""

from __future__ import annotations

import io
import json
import random
import uuid
from collections.abc import Callable

import httpx
from openpyxl import load_workbook

from members.fakes import as_csv, as_xlsx, person

from .conftest import Tree

rng = random.Random(7)


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    branch: uuid.UUID,
    content: bytes,
    name: str = "团员.csv",
    dry_run: bool = False,
    key: str | None = None,
) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return await client.post(
        f"/orgs/{branch}/members/import",
        files={"file": (name, content)},
        data={"dry_run": str(dry_run).lower()},
        headers=headers | extra,
    )


async def count(db, branch: uuid.UUID) -> int:  # type: ignore[no-untyped-def]
    return int((await db("SELECT count(*) AS n FROM members WHERE branch_id = :b", b=branch))[0].n)


async def test_a_clean_csv_imports_every_row(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, db
) -> None:
    before = await count(db, tree.branch_a)
    r = await upload(
        client, admin(tree.branch_a), tree.branch_a, as_csv([person(rng) for _ in range(20)])
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 20 and len(r.json()["members"]) == 20
    assert await count(db, tree.branch_a) == before + 20
    # Announced in member.imported chunks (identity opens the accounts, org counts them).
    imported = {m["id"] for m in r.json()["members"]}
    rows = await db("SELECT envelope FROM outbox WHERE type = 'member.imported'")
    envelopes = [e if isinstance(e, dict) else json.loads(e) for e in (r.envelope for r in rows)]
    announced = {m["member_id"] for e in envelopes for m in e["data"]["members"]}
    assert imported <= announced


async def test_one_bad_row_imports_nothing_and_every_problem_is_listed(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, db
) -> None:
    people = [person(rng) for _ in range(5)]
    people[1]["id_number"] = people[1]["id_number"][:-1] + (
        "1" if people[1]["id_number"][-1] != "1" else "2"
    )
    people[3]["ethnicity"] = "火星族"
    people[4]["joined_on"] = "2019.05"
    before = await count(db, tree.branch_a)
    r = await upload(client, admin(tree.branch_a), tree.branch_a, as_csv(people))
    assert r.status_code == 422 and r.json()["code"] == "member.import_invalid"
    problems = {(e["row"], e["column"]) for e in r.json()["errors"]}
    assert {(3, "身份证号"), (5, "民族"), (6, "入团时间")} <= problems
    assert all(" / " in e["message"] for e in r.json()["errors"])  # Chinese and English
    assert await count(db, tree.branch_a) == before


async def test_id_numbers_that_excel_turned_into_numbers_get_their_own_message(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    p: dict[str, object] = dict(person(rng))
    p["id_number"] = float(
        str(p["id_number"])[:17]
    )  # what Excel keeps of a number in a numeric cell
    r = await upload(client, admin(tree.branch_a), tree.branch_a, as_xlsx([p]), name="团员.xlsx")
    assert r.status_code == 422
    [problem] = [e for e in r.json()["errors"] if e["column"] == "身份证号"]
    assert "文本" in problem["message"] and "text" in problem["message"]


async def test_an_xlsx_with_real_date_cells_imports(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    from datetime import date

    rows: list[dict[str, object]] = []
    for _ in range(3):
        p: dict[str, object] = dict(person(rng))
        p["birth_date"] = date.fromisoformat(str(p["birth_date"]))
        p["joined_on"] = date.fromisoformat(str(p["joined_on"]))
        rows.append(p)
    r = await upload(client, admin(tree.branch_b), tree.branch_b, as_xlsx(rows), name="团员.xlsx")
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 3


async def test_a_dry_run_validates_and_writes_nothing(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, db
) -> None:
    before = await count(db, tree.branch_a)
    r = await upload(
        client,
        admin(tree.branch_a),
        tree.branch_a,
        as_csv([person(rng) for _ in range(4)]),
        dry_run=True,
    )
    assert r.status_code == 200 and r.json()["imported"] == 0 and r.json()["valid_rows"] == 4
    assert await count(db, tree.branch_a) == before


async def test_a_retried_upload_with_the_same_key_imports_once(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, db
) -> None:
    content = as_csv([person(rng) for _ in range(3)], bom=False)
    key = str(uuid.uuid4())
    before = await count(db, tree.branch_b)
    first = await upload(client, admin(tree.branch_b), tree.branch_b, content, key=key)
    second = await upload(client, admin(tree.branch_b), tree.branch_b, content, key=key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert await count(db, tree.branch_b) == before + 3
    other = await upload(
        client, admin(tree.branch_b), tree.branch_b, as_csv([person(rng)]), key=key
    )
    assert other.status_code == 422 and other.json()["code"] == "request.idempotency_key_reused"


async def test_a_person_already_registered_elsewhere_is_refused_with_the_row(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    p = person(rng)
    assert (
        await client.post(f"/orgs/{tree.branch_b}/members", json=p, headers=admin(tree.branch_b))
    ).status_code == 201
    r = await upload(client, admin(tree.branch_a), tree.branch_a, as_csv([person(rng), p]))
    assert r.status_code == 422
    [problem] = r.json()["errors"]
    assert problem["row"] == 3 and "转接" in problem["message"]


async def test_the_template_has_the_chinese_headers(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    r = await client.get(
        f"/orgs/{tree.branch_a}/members/import-template",
        params={"format": "xlsx"},
        headers=admin(tree.branch_a),
    )
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    headers = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert headers[:5] == ["姓名", "性别", "民族", "出生日期", "身份证号"]
    csv_template = await client.get(
        f"/orgs/{tree.branch_a}/members/import-template",
        params={"format": "csv"},
        headers=admin(tree.branch_a),
    )
    assert csv_template.content.startswith("\ufeff姓名".encode())


async def test_a_file_that_is_neither_xlsx_nor_utf8_is_refused_clearly(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    r = await upload(
        client, admin(tree.branch_a), tree.branch_a, "姓名,性别\n张三,男\n".encode("gbk")
    )
    assert r.status_code == 422 and r.json()["code"] == "member.import_unreadable"


async def test_a_damaged_xlsx_or_a_malformed_csv_is_a_clear_422(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    good = as_xlsx([person(rng)])
    truncated = good[: len(good) // 2]  # starts like a zip, ends in the middle of it
    huge_cell = ("姓名,性别\n" + "张" * 200_000 + ",男\n").encode()
    for content, name in ((truncated, "团员.xlsx"), (huge_cell, "团员.csv")):
        r = await upload(client, admin(tree.branch_a), tree.branch_a, content, name=name)
        assert r.status_code == 422 and r.json()["code"] == "member.import_unreadable", name


async def test_a_sheet_longer_than_the_limit_is_refused_without_reading_it_all(
    client: httpx.AsyncClient, settings, tree: Tree, admin: Callable
) -> None:
    rows = [person(rng) for _ in range(settings.max_import_rows + 5)]
    r = await upload(client, admin(tree.branch_a), tree.branch_a, as_csv(rows))
    assert r.status_code == 422
    assert any(str(settings.max_import_rows) in e["message"] for e in r.json()["errors"])


async def test_two_branches_importing_the_same_people_at_once_get_one_import_and_a_refusal(
    client: httpx.AsyncClient, tree: Tree, admin: Callable, db
) -> None:
    # A county's list sent to two branches by mistake, each uploading it at the same moment,
    # one sheet in the other's order. The people are registered once, in one of the branches;
    # the other is told why (never a 500, which the two COPYs waiting on each other's rows in
    # opposite orders gave).
    import asyncio

    for _ in range(5):
        people = [person(rng) for _ in range(300)]
        before = await count(db, tree.branch_a) + await count(db, tree.branch_b)
        answers = await asyncio.gather(
            upload(client, admin(tree.branch_a), tree.branch_a, as_csv(people)),
            upload(client, admin(tree.branch_b), tree.branch_b, as_csv(people[::-1])),
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses in ([200, 409], [200, 422]), [r.text[:200] for r in answers]
        [refused] = [r for r in answers if r.status_code != 200]
        assert refused.json()["code"] in ("member.duplicate", "member.import_invalid"), refused.text
        after = await count(db, tree.branch_a) + await count(db, tree.branch_b)
        assert after == before + len(people)
