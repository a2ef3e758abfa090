"""Payments of bills, and the Idempotency-Key table their POSTs use.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from alembic import op

from shared.migrations import create_idempotency_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE payments (
            id uuid PRIMARY KEY,
            bill_id uuid NOT NULL REFERENCES bills (id),
            amount_fen integer NOT NULL CHECK (amount_fen >= 0),
            channel varchar(8) NOT NULL CHECK (channel IN ('cash', 'online')),
            status varchar(8) NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
            recorded_by uuid,
            -- The W3C trace context of the request that made it: a remittance links to it.
            trace_context jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            paid_at timestamptz
        )
        """
    )
    # A bill is paid once, whatever races: the database refuses a second paid payment.
    op.execute("CREATE UNIQUE INDEX payments_one_paid ON payments (bill_id) WHERE status = 'paid'")
    # A member's bills, newest first.
    op.execute("CREATE INDEX bills_member ON bills (member_id, month DESC)")
    create_idempotency_table()


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
    op.execute("DROP INDEX bills_member")
    op.execute("DROP TABLE payments")
