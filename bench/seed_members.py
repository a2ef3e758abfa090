"""Seed a members database with many valid member records, fast (COPY), for benchmarks.

Reusable by later benchmarks (dues for millions of members, transfers): give it the members
database URL, the branches (as materialized paths) and the installation secret the running
members service derives its keys from. Records are made-up but valid (checksums, dates), sealed
and hashed exactly as the service does, so reveals and the duplicate rule work on them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

import asyncpg

from members.domain.id_numbers import mask
from members.domain.member import validate_member
from members.fakes import person
from members.protection import id_protection
from members.service import path_text
from members.settings import MembersSettings
from shared.settings import PlatformSettings

COLUMNS = (
    "id",
    "member_no",
    "branch_id",
    "org_path",
    "name",
    "gender",
    "ethnicity",
    "birth_date",
    "id_number_sealed",
    "id_number_hash",
    "id_number_masked",
    "joined_on",
    "joined_place",
    "phone",
    "email",
    "employer",
    "hobbies",
    "status",
    "account_created_at",
    "revision",
    "created_by",
    "created_at",
    "updated_at",
)


async def seed(
    db_url: str,
    branches: Sequence[Sequence[uuid.UUID]],
    per_branch: int,
    internal_secret: str,
    seed_value: int = 1,
) -> int:
    """Insert `per_branch` members into each branch (given as its path root..branch)."""
    protection = id_protection(
        MembersSettings(platform=PlatformSettings(internal_secret=internal_secret))
    )
    rng = random.Random(seed_value)
    today = date.today()
    now = datetime.now(UTC)
    conn = await asyncpg.connect(db_url)
    total = 0
    try:
        # Made-up ID numbers collide now and then; the province-wide rule allows each once.
        seen_hashes = {
            r["id_number_hash"] for r in await conn.fetch("SELECT id_number_hash FROM members")
        }
        for path in branches:
            branch_id, org_path = path[-1], path_text(list(path))
            numbers = await conn.fetch(
                "SELECT nextval('member_no_seq') AS n FROM generate_series(1, $1)", per_branch
            )
            records = []
            for row in numbers:
                fields = None
                while fields is None:
                    fields, _ = validate_member(person(rng, today), today)
                    if fields is not None and protection.digest(fields.id_number) in seen_hashes:
                        fields = None
                assert fields is not None
                digest = protection.digest(fields.id_number)
                seen_hashes.add(digest)
                member_id = uuid.uuid4()
                records.append(
                    (
                        member_id,
                        f"{today.year}{row['n']:08d}",
                        branch_id,
                        org_path,
                        fields.name,
                        fields.gender,
                        fields.ethnicity,
                        fields.birth_date,
                        protection.seal(fields.id_number, member_id.bytes),
                        digest,
                        mask(fields.id_number),
                        fields.joined_on,
                        fields.joined_place,
                        fields.phone,
                        fields.email,
                        fields.employer,
                        None,
                        "active",
                        now,
                        1,
                        None,
                        now,
                        now,
                    )
                )
            await conn.copy_records_to_table("members", records=records, columns=COLUMNS)
            total += len(records)
        await conn.execute("ANALYZE members")
    finally:
        await conn.close()
    return total


if __name__ == "__main__":
    raise SystemExit("import seed() from a benchmark script; see bench/member_records.py")
