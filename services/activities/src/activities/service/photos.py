"""An activity's photos (活动照片) are documents uploaded to the org service (POST /documents,
recognised by their content): a summary may refer only to ones that exist and are images, so a
PDF renamed `.jpg` is refused here as it was recognised there."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from shared.documents import uploaded_types
from shared.problems import Problem

IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})


async def check_images(org_url: str, secret: str, ids: Sequence[uuid.UUID]) -> None:
    """422 `activity.photo_not_found` or `activity.photo_not_image` naming the first that is
    not; 503 when the org service does not answer."""
    types = await uploaded_types(org_url, secret, ids)
    for n, photo in enumerate(ids):
        if photo not in types:
            raise Problem(
                422,
                "activity.photo_not_found",
                "No uploaded document has this id.",
                errors=[{"field": f"photo_document_ids.{n}", "message": "no such document"}],
            )
        if types[photo] not in IMAGE_TYPES:
            raise Problem(
                422,
                "activity.photo_not_image",
                f"A photo must be a JPEG or PNG image; this document is {types[photo]}.",
                errors=[{"field": f"photo_document_ids.{n}", "message": "not an image"}],
            )
