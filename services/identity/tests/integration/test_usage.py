"""The assessment's system usage (系统使用率) over a subtree: member accounts activated and used
in the year over every member account, with each direct child's figure."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text

from identity.settings import IdentitySettings
from shared.calendar import beijing_today
from shared.caller import SYSTEM_CALLER, sign_caller
from shared.orgtree import upsert_replica
from shared.process import Resources
from shared.testing import caller_headers, org_created

from .conftest import Tree
from .test_member_accounts import deliver_member_created

PASSWORD = "Member-Pass-2026"


async def test_usage_counts_members_who_logged_in_that_year_per_child(
    client: httpx.AsyncClient,
    settings: IdentitySettings,
    resources: Resources,
    tree: Tree,
    make_account: Callable[..., Any],
) -> None:
    city, x, y = (uuid.uuid4() for _ in range(3))
    async with resources.sessions() as session, session.begin():
        for name, path in [
            ("用例市委", [tree.root, city]),
            ("用例甲支部", [tree.root, city, x]),
            ("用例乙支部", [tree.root, city, y]),
        ]:
            await upsert_replica(session, org_created(name, path))
    in_x = [await make_account(x, password=PASSWORD, role="member") for _ in range(3)]
    in_y = [await make_account(y, password=PASSWORD, role="member") for _ in range(2)]
    await deliver_member_created(settings, x, "未激活")  # pending activation: counted, not used
    await make_account(x, password=PASSWORD, role="admin")  # an admin is no member
    for username, _ in [in_x[0], in_x[1], in_y[0]]:
        for _ in range(2):  # twice in a month is one month of use
            r = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
    this_year = beijing_today().year
    # The third of x used it last year only.
    async with resources.sessions() as session, session.begin():
        await session.execute(
            text("INSERT INTO account_activity (account_id, month) VALUES (:id, :month)"),
            {
                "id": uuid.UUID(in_x[2][1]),
                "month": beijing_today().replace(year=this_year - 1, day=1),
            },
        )

    system = sign_caller(SYSTEM_CALLER, settings.platform.internal_secret)

    async def usage(year: int) -> dict[str, Any]:
        r = await client.get(
            f"/internal/orgs/{city}/assessment/system-usage?year={year}", headers=system
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    now = await usage(this_year)
    assert (now["indicator"], now["numerator"], now["denominator"]) == ("system_usage", 3, 6)
    assert {c["org_id"]: (c["numerator"], c["denominator"]) for c in now["children"]} == {
        str(x): (2, 4),
        str(y): (1, 2),
    }
    assert now["rate"] == 0.5
    last = await usage(this_year - 1)
    assert {c["org_id"]: c["numerator"] for c in last["children"]} == {str(x): 1, str(y): 0}

    admin = caller_headers(settings.platform.internal_secret, "admin", city)
    r = await client.get(
        f"/internal/orgs/{city}/assessment/system-usage?year={this_year}", headers=admin
    )
    assert r.status_code == 403
