"""The organisation tree through the org service's own API, on a real database."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx
import pytest

from org.settings import OrgSettings
from shared.testing import caller_headers

PDF = b"%PDF-1.4\n% approval\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def admin(settings: OrgSettings, org_id: str) -> dict[str, str]:
    return caller_headers(settings.platform.internal_secret, "admin", org_id)


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes = PDF, name: str = "批复.pdf"
) -> str:
    r = await client.post("/documents", files={"file": (name, content)}, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def create(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    parent: str,
    name: str,
    type_: str = "committee",
    approved_on: date | None = None,
) -> httpx.Response:
    doc = await upload(client, headers)
    approved = approved_on or date.today()
    return await client.post(
        "/orgs",
        headers=headers,
        json={
            "parent_id": parent,
            "name": name,
            "type": type_,
            "founded_on": str(approved),
            "approved_on": str(approved),
            "leader_name": "王书记",
            "leader_phone": "13800138000",
            "approval_document_id": doc,
        },
    )


async def test_a_new_org_hangs_below_its_parent_with_its_path(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    r = await create(client, admin(settings, root_id), root_id, f"市委{uuid.uuid4().hex[:6]}")
    assert r.status_code == 201, r.text
    city = r.json()
    assert city["path"] == [root_id, city["id"]] and city["status"] == "active"
    children = (
        await client.get(f"/orgs/{root_id}/children", headers=admin(settings, root_id))
    ).json()
    assert city["id"] in [c["id"] for c in children["items"]]


async def test_creation_long_after_approval_is_recorded_late(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    late = await create(
        client,
        admin(settings, root_id),
        root_id,
        f"迟建{uuid.uuid4().hex[:6]}",
        approved_on=date.today() - timedelta(days=90),
    )
    on_time = await create(client, admin(settings, root_id), root_id, f"按时{uuid.uuid4().hex[:6]}")
    assert late.json()["created_late"] is True
    assert on_time.json()["created_late"] is False


async def test_a_branch_cannot_get_a_child(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    branch = (
        await create(
            client, admin(settings, root_id), root_id, f"支部{uuid.uuid4().hex[:6]}", "branch"
        )
    ).json()
    r = await create(client, admin(settings, root_id), branch["id"], "子支部")
    assert r.status_code == 422 and r.json()["code"] == "org.parent_is_branch"


async def test_an_admin_cannot_create_outside_its_subtree(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    a = (
        await create(client, admin(settings, root_id), root_id, f"甲{uuid.uuid4().hex[:6]}")
    ).json()
    b = (
        await create(client, admin(settings, root_id), root_id, f"乙{uuid.uuid4().hex[:6]}")
    ).json()
    r = await create(client, admin(settings, a["id"]), b["id"], "越权")
    assert r.status_code == 403 and r.json()["code"] == "auth.out_of_scope"
    assert (
        await client.get(f"/orgs/{b['id']}", headers=admin(settings, a["id"]))
    ).status_code == 403
    assert (
        await client.get(f"/orgs/{root_id}", headers=admin(settings, a["id"]))
    ).status_code == 403


async def test_two_live_siblings_cannot_share_a_name(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    name = f"同名{uuid.uuid4().hex[:6]}"
    assert (await create(client, admin(settings, root_id), root_id, name)).status_code == 201
    r = await create(client, admin(settings, root_id), root_id, name)
    assert r.status_code == 409 and r.json()["code"] == "org.duplicate_name"


async def test_an_org_admin_cannot_dissolve_its_own_org(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    org = (
        await create(client, admin(settings, root_id), root_id, f"自撤{uuid.uuid4().hex[:6]}")
    ).json()
    r = await client.post(
        f"/orgs/{org['id']}/dissolution",
        json={"decided_on": str(date.today()), "reason": "x"},
        headers=admin(settings, org["id"]),
    )
    assert r.status_code == 403


async def test_a_rename_is_published_without_personal_data(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str, outbox_types
) -> None:
    org = (
        await create(client, admin(settings, root_id), root_id, f"改名{uuid.uuid4().hex[:6]}")
    ).json()
    r = await client.patch(
        f"/orgs/{org['id']}",
        json={"name": "新名字" + org["id"][:4], "leader_phone": "13900139000"},
        headers=admin(settings, org["id"]),
    )
    assert r.status_code == 200 and r.json()["name"].startswith("新名字")
    assert (await outbox_types())[-1] == "org.updated"


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"just text pretending to be a pdf", 415, "document.unsupported_type"),
        (b"", 422, "document.empty"),
    ],
)
async def test_documents_are_recognised_by_content(
    client: httpx.AsyncClient,
    settings: OrgSettings,
    root_id: str,
    content: bytes,
    status: int,
    code: str,
) -> None:
    r = await client.post(
        "/documents", files={"file": ("批复.pdf", content)}, headers=admin(settings, root_id)
    )
    assert (r.status_code, r.json()["code"]) == (status, code)


async def test_a_png_is_stored_with_its_hash(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    import hashlib

    r = await client.post(
        "/documents", files={"file": ("章.png", PNG)}, headers=admin(settings, root_id)
    )
    assert r.status_code == 201
    assert (
        r.json()["content_type"] == "image/png"
        and r.json()["sha256"] == hashlib.sha256(PNG).hexdigest()
    )


async def test_a_document_over_10_mb_is_refused(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    big = PDF + b"0" * (10 * 1024 * 1024)
    r = await client.post(
        "/documents", files={"file": ("big.pdf", big)}, headers=admin(settings, root_id)
    )
    assert (r.status_code, r.json()["code"]) == (413, "document.too_large")


async def test_a_request_without_a_signed_caller_is_401(
    client: httpx.AsyncClient, root_id: str
) -> None:
    r = await client.get(
        f"/orgs/{root_id}", headers={"x-league-caller": "eyJ9", "x-league-caller-signature": "00"}
    )
    assert r.status_code == 401 and r.json()["code"] == "auth.not_authenticated"


async def test_children_are_listed_page_by_page_each_once(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    headers = admin(settings, root_id)
    parent = (await create(client, headers, root_id, f"分页{uuid.uuid4().hex[:6]}")).json()
    names = {f"支部{i}" for i in range(5)}
    for name in names:
        assert (await create(client, headers, parent["id"], name, "branch")).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (
            await client.get(f"/orgs/{parent['id']}/children", params=params, headers=headers)
        ).json()
        seen += [c["name"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(names)


async def test_the_internal_snapshot_pages_through_every_organisation(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    from shared.caller import SYSTEM_CALLER, sign_caller

    system = sign_caller(SYSTEM_CALLER, settings.platform.internal_secret)
    everything = (await client.get("/internal/orgs", headers=system)).json()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/internal/orgs", params=params, headers=system)).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [o["id"] for o in everything["items"]] and root_id in seen


async def test_a_name_of_spaces_is_refused_and_names_are_trimmed_on_rename(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    headers = admin(settings, root_id)
    blank = await create(client, headers, root_id, "   ")
    assert blank.status_code == 422
    name = f"修剪{uuid.uuid4().hex[:6]}"
    first = (await create(client, headers, root_id, name)).json()
    other = (await create(client, headers, root_id, f"其他{uuid.uuid4().hex[:6]}")).json()
    clash = await client.patch(f"/orgs/{other['id']}", json={"name": f"{name} "}, headers=headers)
    assert clash.status_code == 409 and first["name"] == name


async def test_a_name_is_found_anywhere_in_the_subtree_and_nowhere_else(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    headers = admin(settings, root_id)
    city = (await create(client, headers, root_id, f"查找市委{tag}")).json()
    county = (await create(client, headers, city["id"], f"青山县委{tag}")).json()
    branch = (await create(client, headers, county["id"], f"青山第一支部{tag}", "branch")).json()
    other = (await create(client, headers, root_id, f"青山市委{tag}")).json()
    percent = (await create(client, headers, county["id"], f"百分之百_%{tag}", "branch")).json()

    async def found(org: str, q: str, as_admin_of: str | None = None) -> list[str]:
        r = await client.get(
            f"/orgs/{org}/search",
            params={"q": q},
            headers=admin(settings, as_admin_of or org),
        )
        assert r.status_code == 200, r.text
        return [o["id"] for o in r.json()["items"]]

    # The highest first; only inside the subtree asked about.
    assert await found(city["id"], f"青山{tag}"[:2]) == [county["id"], branch["id"]]
    assert other["id"] in await found(root_id, "青山")
    assert await found(city["id"], "第一支部") == [branch["id"]]
    # % and _ are letters of a name here, not wildcards.
    assert await found(city["id"], "_%") == [percent["id"]]
    outside = await client.get(
        f"/orgs/{other['id']}/search", params={"q": "青山"}, headers=admin(settings, city["id"])
    )
    assert outside.status_code == 403
    empty = await client.get(f"/orgs/{city['id']}/search", params={"q": ""}, headers=headers)
    assert empty.status_code == 422


async def test_a_document_is_read_by_the_admins_over_its_uploader_or_what_it_approved(
    client: httpx.AsyncClient, settings: OrgSettings, root_id: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    root = admin(settings, root_id)
    city = (await create(client, root, root_id, f"文件市委{tag}")).json()
    other = (await create(client, root, root_id, f"别的市委{tag}")).json()
    as_city = admin(settings, city["id"])
    branch = (await create(client, as_city, city["id"], f"文件支部{tag}", "branch")).json()
    approval = branch["approval_document_id"]

    def reader(org: str) -> dict[str, str]:
        return admin(settings, org)

    for who in (city["id"], root_id, branch["id"]):  # uploader's org, above it, the approved one
        r = await client.get(f"/documents/{approval}", headers=reader(who))
        assert r.status_code == 200, (who, r.text)
        assert r.content == PDF and r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("inline; filename*=UTF-8''")
    hidden = await client.get(f"/documents/{approval}", headers=reader(other["id"]))
    assert hidden.status_code == 404 and hidden.json()["code"] == "document.not_found"
    unknown = await client.get(f"/documents/{uuid.uuid4()}", headers=root)
    assert unknown.status_code == 404
