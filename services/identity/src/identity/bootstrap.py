"""First start of an installation: the root organisation (through the org service) and its admin."""

from __future__ import annotations

import os
import uuid

import httpx

from identity import service
from identity.db import Account
from identity.domain.passwords import generate_password, password_weaknesses
from identity.settings import IdentitySettings
from shared.caller import SYSTEM_CALLER, sign_caller
from shared.events import OrgCreated
from shared.orgtree import upsert_replica
from shared.process import build_resources

DEFAULT_ROOT_NAME = "共青团某某省委员会"


async def bootstrap(settings: IdentitySettings) -> dict[str, object]:
    """Idempotent: a second run finds the admin and creates nothing."""
    root_name = os.environ.get("LEAGUE_ROOT_ORG_NAME") or DEFAULT_ROOT_NAME
    username = (os.environ.get("LEAGUE_ADMIN_USERNAME") or "admin").strip().lower()
    given_password = os.environ.get("LEAGUE_ADMIN_PASSWORD") or None
    if given_password and password_weaknesses(given_password, username):
        raise SystemExit(
            "LEAGUE_ADMIN_PASSWORD is too weak: "
            + "; ".join(password_weaknesses(given_password, username))
        )

    async with httpx.AsyncClient(base_url=settings.org_url, timeout=30) as client:
        response = await client.post(
            "/internal/orgs/root",
            json={"name": root_name},
            headers=sign_caller(SYSTEM_CALLER, settings.platform.internal_secret),
        )
        response.raise_for_status()
        root = response.json()

    resources = build_resources(settings)
    try:
        async with resources.sessions() as session, session.begin():
            # Known at once rather than when the org.created event arrives.
            await upsert_replica(
                session,
                OrgCreated(
                    org_id=uuid.UUID(root["id"]),
                    parent_id=None,
                    path=[uuid.UUID(root["id"])],
                    name=root["name"],
                    org_type="committee",
                    status=root["status"],
                    revision=root["revision"],
                    founded_on="2000-01-01",
                    approved_on="2000-01-01",
                    created_late=False,
                ),
            )  # type: ignore[arg-type]
            existing = await service.account_by_username(session, username)
            if existing is not None:
                return {"created": False, "username": username, "root_org_id": root["id"]}
            password = given_password or generate_password()
            account: Account = await service.create_account(
                session,
                username=username,
                password=password,
                role="admin",
                org_id=uuid.UUID(root["id"]),
                member_id=None,
                must_change=given_password is None,
                created_by=None,
            )
            result: dict[str, object] = {
                "created": True,
                "username": username,
                "root_org_id": root["id"],
                "account_id": str(account.id),
            }
            if given_password is None:
                result["initial_password"] = password
            return result
    finally:
        await resources.engine.dispose()
