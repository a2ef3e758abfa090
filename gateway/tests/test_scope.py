"""Organisation scope: admins over their subtree, members inside their own branch's path."""

from __future__ import annotations

import uuid

import pytest

from gateway.routes import Policy
from gateway.scope import Scope, allowed
from shared.caller import Caller
from shared.orgtree import OrgNode, OrgTree
from shared.problems import Problem


async def test_admin_over_a_descendant_is_forwarded(running, keys, tree, world) -> None:
    response = await running.client.get(
        f"/api/v1/orgs/{tree.branch_a.id}", headers=keys.admin_of(tree.city)
    )
    assert response.status_code == 200
    assert response.json()["path"] == f"/orgs/{tree.branch_a.id}"


async def test_admin_over_own_org_is_forwarded(running, keys, tree) -> None:
    response = await running.client.patch(
        f"/api/v1/orgs/{tree.city.id}", headers=keys.admin_of(tree.city), json={"name": "x"}
    )
    assert response.status_code == 200


async def test_admin_of_a_sibling_is_out_of_scope(running, keys, tree, world) -> None:
    response = await running.client.get(
        f"/api/v1/orgs/{tree.branch_b.id}", headers=keys.admin_of(tree.branch_a)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "auth.out_of_scope"
    assert world.seen == []


async def test_admin_of_a_child_is_out_of_scope_of_the_ancestor(running, keys, tree) -> None:
    response = await running.client.patch(
        f"/api/v1/orgs/{tree.city.id}", headers=keys.admin_of(tree.branch_a), json={}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "auth.out_of_scope"


async def test_scope_applies_to_literal_routes_of_another_service(running, keys, tree) -> None:
    outside = await running.client.get(
        f"/api/v1/orgs/{tree.city.id}/security-check", headers=keys.admin_of(tree.branch_a)
    )
    inside = await running.client.get(
        f"/api/v1/orgs/{tree.branch_a.id}/security-check", headers=keys.admin_of(tree.root)
    )
    assert (outside.status_code, inside.status_code) == (403, 200)


async def test_member_sees_orgs_on_own_branch_path_where_members_may(running, keys, tree) -> None:
    member = keys.member_of(tree.branch_a)
    for org in (tree.branch_a, tree.city, tree.root):
        response = await running.client.get(f"/api/v1/orgs/{org.id}/children", headers=member)
        assert response.status_code == 200, org


async def test_member_outside_own_branch_path_is_out_of_scope(running, keys, tree) -> None:
    response = await running.client.get(
        f"/api/v1/orgs/{tree.branch_b.id}", headers=keys.member_of(tree.branch_a)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "auth.out_of_scope"


async def test_member_on_admin_only_route_is_out_of_scope(running, keys, tree) -> None:
    response = await running.client.patch(
        f"/api/v1/orgs/{tree.branch_a.id}", headers=keys.member_of(tree.branch_a), json={}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "auth.out_of_scope"


async def test_unknown_org_is_read_through_from_org_and_kept(running, keys, tree, world) -> None:
    new_branch = world.add(*tree.city.path, uuid.uuid4())
    assert running.gateway.scope.tree.get(new_branch.id) is None
    for _ in range(2):
        response = await running.client.get(
            f"/api/v1/orgs/{new_branch.id}", headers=keys.admin_of(tree.city)
        )
        assert response.status_code == 200
    assert world.org_lookups == [str(new_branch.id)]
    assert running.gateway.scope.tree.get(new_branch.id) is not None
    # The read-through is the platform asking, not the caller.
    assert world.internal[-1].headers["x-league-caller"]


async def test_org_unknown_to_org_service_is_404(running, keys, tree, world) -> None:
    missing = uuid.uuid4()
    response = await running.client.get(f"/api/v1/orgs/{missing}", headers=keys.admin_of(tree.root))
    assert response.status_code == 404
    assert response.json()["code"] == "org.not_found"
    assert world.org_lookups == [str(missing)]


async def test_org_parameter_that_is_not_a_uuid_is_404(running, keys, tree) -> None:
    response = await running.client.get("/api/v1/orgs/not-a-uuid", headers=keys.admin_of(tree.root))
    assert response.status_code == 404
    assert response.json()["code"] == "org.not_found"


async def test_org_service_down_during_read_through_is_503(running, keys, tree, world) -> None:
    world.down.add("org")
    response = await running.client.get(
        f"/api/v1/orgs/{uuid.uuid4()}/security-check", headers=keys.admin_of(tree.root)
    )
    assert response.status_code == 503
    assert response.json()["code"] == "gateway.service_unavailable"


async def test_route_without_org_parameter_is_left_to_the_service(running, keys, tree) -> None:
    response = await running.client.post(
        "/api/v1/admin-applications/anything/approve", headers=keys.member_of(tree.branch_a)
    )
    assert response.status_code == 200


async def test_policy_naming_a_missing_parameter_is_refused() -> None:
    async def never(_: uuid.UUID) -> OrgNode | None:
        raise AssertionError("no lookup expected")

    scope = Scope(OrgTree(), never)
    admin = Caller(uuid.uuid4(), "admin", uuid.uuid4())
    with pytest.raises(Problem) as raised:
        await scope.check(admin, Policy(org_param="org_id"), {"id": str(uuid.uuid4())})
    assert raised.value.code == "auth.out_of_scope"


def test_member_without_known_branch_is_not_allowed() -> None:
    root = uuid.uuid4()
    target = OrgNode(root, None, (root,), "root", "committee", "active", 1)
    member = Caller(uuid.uuid4(), "member", uuid.uuid4())
    assert not allowed(member, Policy(allow="admin_or_member"), target, None)
