"""Hierarchical permission on materialized paths and the in-memory tree copy."""

import uuid

from shared.caller import SYSTEM_CALLER, Caller
from shared.orgtree import OrgNode, OrgTree, is_admin_over, is_member_inside

ROOT, CITY, COUNTY_A, COUNTY_B, BRANCH = (uuid.uuid4() for _ in range(5))
BRANCH_PATH = [ROOT, CITY, COUNTY_A, BRANCH]


def admin_of(org: uuid.UUID) -> Caller:
    return Caller(account_id=uuid.uuid4(), role="admin", org_id=org)


def test_an_admin_is_over_its_own_org_and_everything_below() -> None:
    assert is_admin_over(admin_of(COUNTY_A), [ROOT, CITY, COUNTY_A])
    assert is_admin_over(admin_of(COUNTY_A), BRANCH_PATH)
    assert is_admin_over(admin_of(ROOT), BRANCH_PATH)


def test_an_admin_is_not_over_a_sibling_or_an_ancestor() -> None:
    assert not is_admin_over(admin_of(COUNTY_A), [ROOT, CITY, COUNTY_B])
    assert not is_admin_over(admin_of(COUNTY_A), [ROOT, CITY])


def test_a_member_is_never_admin_but_sees_the_orgs_above_its_branch() -> None:
    member = Caller(account_id=uuid.uuid4(), role="member", org_id=BRANCH)
    assert not is_admin_over(member, BRANCH_PATH)
    assert is_member_inside(member, CITY, BRANCH_PATH)
    assert not is_member_inside(member, COUNTY_B, BRANCH_PATH)


def test_the_system_caller_is_over_everything() -> None:
    assert is_admin_over(SYSTEM_CALLER, [ROOT])


def test_an_older_revision_arriving_late_does_not_undo_a_newer_one() -> None:
    tree = OrgTree()
    newer = OrgNode(CITY, ROOT, (ROOT, CITY), "新名字", "committee", "active", 2)
    older = OrgNode(CITY, ROOT, (ROOT, CITY), "旧名字", "committee", "active", 1)
    assert tree.apply(newer)
    assert not tree.apply(older)
    node = tree.get(CITY)
    assert node is not None and node.name == "新名字"
