"""Documents uploaded to the org service (POST /documents, recognised by their content), as
another service asks about them before it refers to one: an activity's photos, the minutes of a
fee use's collective decision."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx

from shared.caller import SYSTEM_CALLER, sign_caller
from shared.problems import Problem


async def uploaded_types(
    org_url: str, secret: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The content type of each of `ids` that was uploaded (one never uploaded is absent);
    503 `ops.org_unreachable` when the org service does not answer."""
    if not ids:
        return {}
    unreachable = Problem(
        503, "ops.org_unreachable", "The document store does not answer; try again."
    )
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{org_url.rstrip('/')}/internal/documents",
                params={"ids": [str(i) for i in ids]},
                headers=sign_caller(SYSTEM_CALLER, secret),
            )
    except httpx.HTTPError as exc:
        raise unreachable from exc
    if response.status_code != 200:
        raise unreachable
    return {uuid.UUID(d["id"]): d["content_type"] for d in response.json()["items"]}
