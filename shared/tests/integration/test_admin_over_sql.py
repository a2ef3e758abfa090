"""The scope rule in SQL (`admin_over_sql`, for a statement that decides and writes at once)
answers as `is_admin_over` does, for every kind of caller and path."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.caller import OPERATOR_CALLER, SYSTEM_CALLER, Caller
from shared.orgtree import admin_over_sql, admin_over_values, is_admin_over

ROOT, CITY, COUNTY_A, COUNTY_B, BRANCH = (uuid.uuid4() for _ in range(5))
PATHS = [
    [ROOT],
    [ROOT, CITY],
    [ROOT, CITY, COUNTY_A],
    [ROOT, CITY, COUNTY_A, BRANCH],
    [ROOT, CITY, COUNTY_B],
]
CALLERS = [
    SYSTEM_CALLER,
    OPERATOR_CALLER,
    *(
        Caller(account_id=uuid.uuid4(), role="admin", org_id=org)
        for org in (ROOT, COUNTY_A, BRANCH)
    ),
    Caller(account_id=uuid.uuid4(), role="admin", org_id=None),
    # A member of the branch is on its path, and still no admin over it.
    Caller(account_id=uuid.uuid4(), role="member", org_id=BRANCH, member_id=uuid.uuid4()),
]
IN_SQL = text(f"SELECT {admin_over_sql('CAST(:path AS uuid[])')} AS over")


async def test_the_sql_form_of_the_scope_rule_agrees_with_the_python_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    answers = 0
    async with sessions() as session:
        for caller in CALLERS:
            for path in PATHS:
                values = {"path": path, **admin_over_values(caller)}
                over = (await session.execute(IN_SQL, values)).scalar_one()
                assert over is is_admin_over(caller, path), (caller.role, caller.org_id, path)
                answers += over
    assert 0 < answers < len(CALLERS) * len(PATHS)  # both answers were given
