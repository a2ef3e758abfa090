"""Lists come in pages (`?limit=`, `?cursor=`, `{items, next_cursor}`) in a stable order: the
activation codes of a branch, the security check of a subtree, the frozen accounts the gateway
loads."""

from __future__ import annotations

import uuid

import httpx

from identity.settings import IdentitySettings
from shared.orgtree import upsert_replica
from shared.process import Resources
from shared.testing import all_pages, caller_headers, org_created

from .conftest import Tree
from .test_accounts import as_admin, login
from .test_member_accounts import deliver_member_created


async def new_org(resources: Resources, tree: Tree, name: str) -> uuid.UUID:
    """An organisation of its own under the city, so that a list holds only what a test put in."""
    org_id = uuid.uuid4()
    async with resources.sessions() as session, session.begin():
        await upsert_replica(session, org_created(name, [tree.root, tree.city, org_id]))
    return org_id


async def test_activation_codes_come_in_pages_by_username(
    client: httpx.AsyncClient, settings: IdentitySettings, resources: Resources, tree: Tree
) -> None:
    branch = await new_org(resources, tree, "丙支部")
    usernames = [await deliver_member_created(settings, branch, f"团员{i}") for i in range(5)]
    admin = as_admin(settings, branch)
    pages = await all_pages(client, f"/orgs/{branch}/activation-codes", admin, limit=2)
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    listed = [i["username"] for p in pages for i in p["items"]]
    assert listed == sorted(usernames)
    assert all(i["activation_code"] for p in pages for i in p["items"])
    first = (await client.get(f"/orgs/{branch}/activation-codes", headers=admin)).json()
    assert len(first["items"]) == 5 and first["next_cursor"] is None


async def test_a_cursor_or_limit_no_list_gave_out_is_a_422(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree
) -> None:
    admin = as_admin(settings, tree.city)
    for path in (f"/orgs/{tree.city}/activation-codes", f"/orgs/{tree.city}/security-check"):
        bad = await client.get(path, params={"cursor": "not-a-cursor"}, headers=admin)
        assert bad.status_code == 422 and bad.json()["code"] == "request.bad_cursor"
        assert (await client.get(path, params={"limit": 501}, headers=admin)).status_code == 422


async def test_the_security_check_comes_in_pages_with_counts_of_the_whole_subtree(
    client: httpx.AsyncClient,
    settings: IdentitySettings,
    resources: Resources,
    tree: Tree,
    make_account,
) -> None:
    org = await new_org(resources, tree, "丁县委")
    never = [await make_account(org) for _ in range(3)]
    fine, _ = await make_account(org, "Initial-Pass-2026")
    assert (await login(client, fine, "Initial-Pass-2026")).status_code == 200
    frozen_name, frozen_id = never[0]
    assert (
        await client.post(
            f"/accounts/{frozen_id}/freeze", json={"reason": "x"}, headers=as_admin(settings, org)
        )
    ).status_code == 204

    pages = await all_pages(client, f"/orgs/{org}/security-check", as_admin(settings, org), 2)
    assert [len(p["items"]) for p in pages] == [2, 1]
    found = {i["username"]: i["findings"] for p in pages for i in p["items"]}
    assert list(found) == sorted(name for name, _ in never)
    assert found[frozen_name] == ["never_logged_in", "frozen"]
    assert all(p["counts"] == {"never_logged_in": 3, "frozen": 1} for p in pages)


async def test_the_frozen_accounts_come_in_pages_by_id_for_the_gateway(
    client: httpx.AsyncClient, settings: IdentitySettings, tree: Tree, make_account
) -> None:
    frozen = []
    for _ in range(3):
        _, account_id = await make_account(tree.county_b)
        r = await client.post(
            f"/accounts/{account_id}/freeze",
            json={"reason": "x"},
            headers=as_admin(settings, tree.county_b),
        )
        assert r.status_code == 204
        frozen.append(account_id)
    system = caller_headers(settings.platform.internal_secret, "system", None)
    pages = await all_pages(client, "/internal/accounts/frozen", system, limit=1)
    listed = [i for p in pages for i in p["items"]]
    assert listed == sorted(listed, key=uuid.UUID) and set(frozen) <= set(listed)
    assert len(pages) == len(listed) + 1  # a full last page cannot know it was the last
    whole = (await client.get("/internal/accounts/frozen", headers=system)).json()
    assert whole == {"items": listed, "next_cursor": None}
