"""The lower bounds of a read and a write: FastAPI and one asyncpg pool, `GET /orgs/{id}` as
one SELECT, and (with `--payments`) `POST /bills/{id}/payments` as one INSERT.

No middleware, no tracing, no caller check, no ORM: what the same machine needs at least to
answer the read the org service answers (bench/request_path.py) and to record a payment as the
fees service does (bench/payments.py); each starts it beside the system.

    .venv/bin/python bench/bare_endpoint.py --dsn postgresql://postgres@127.0.0.1/x_org --port 9
"""

from __future__ import annotations

import argparse
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

COLUMNS = (
    "id, parent_id, path, name, org_type AS type, status, founded_on, approved_on, created_late,"
    " member_count, leader_name, leader_phone, approval_document_id, dissolution_due_by,"
    " created_at"
)


class PaymentIn(BaseModel):
    channel: str


def create_app(dsn: str, payments: bool = False) -> FastAPI:
    pool: asyncpg.Pool | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        if payments:
            await pool.execute(
                "CREATE TABLE IF NOT EXISTS bench_payments (id uuid PRIMARY KEY, bill_id uuid "
                "NOT NULL, channel text NOT NULL, paid_at timestamptz NOT NULL DEFAULT now())"
            )
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/orgs/{org_id}")
    async def read_org(org_id: uuid.UUID) -> dict[str, Any]:
        assert pool is not None
        row = await pool.fetchrow(f"SELECT {COLUMNS} FROM orgs WHERE id = $1", org_id)  # noqa: S608
        if row is None:
            raise HTTPException(404)
        return dict(row)

    @app.post("/bills/{bill_id}/payments", status_code=201)
    async def pay(bill_id: uuid.UUID, body: PaymentIn) -> dict[str, Any]:
        assert pool is not None
        row = await pool.fetchrow(
            "INSERT INTO bench_payments (id, bill_id, channel) VALUES ($1, $2, $3) "
            "RETURNING id, bill_id, channel, paid_at",
            uuid.uuid4(),
            bill_id,
            body.channel,
        )
        return dict(row)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--payments", action="store_true", help="also the write")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.dsn, args.payments),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
