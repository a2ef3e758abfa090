"""Money owed back is given back: a `refund_due` payment becomes `refunded` when the provider
has returned it, with the provider's reference, when, and who asked (none: the callback that
found it owed asked at once).

Until now a payment owed back (paid for a bill paid another way meanwhile, repriced, or taken
away) was recorded and nothing more: no list showed it and nothing returned the money.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _status_check(values: str) -> None:
    # NOT VALID, then VALIDATE: the table is read under a lock that lets payments go on.
    op.execute("ALTER TABLE payments DROP CONSTRAINT payments_status_check")
    op.execute(
        f"ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK {values} NOT VALID"
    )
    op.execute("ALTER TABLE payments VALIDATE CONSTRAINT payments_status_check")


def upgrade() -> None:
    op.execute(
        "ALTER TABLE payments ADD COLUMN refund_ref varchar(64), "
        "ADD COLUMN refunded_at timestamptz, ADD COLUMN refunded_by uuid"
    )
    _status_check("(status IN ('pending', 'paid', 'failed', 'refund_due', 'refunded'))")
    # The subtree's refunds, newest first, without reading the month start's millions of paid
    # payments: only those owed back or given back are in it. Built without blocking the
    # payments being written meanwhile (CONCURRENTLY, outside the migration's transaction).
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS payments_refunds "
            "ON payments (created_at DESC, id DESC) WHERE status IN ('refund_due', 'refunded')"
        )


def downgrade() -> None:
    op.execute("DROP INDEX payments_refunds")
    op.execute("UPDATE payments SET status = 'refund_due' WHERE status = 'refunded'")
    _status_check("(status IN ('pending', 'paid', 'failed', 'refund_due'))")
    op.execute(
        "ALTER TABLE payments DROP COLUMN refund_ref, DROP COLUMN refunded_at, "
        "DROP COLUMN refunded_by"
    )
