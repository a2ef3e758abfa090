"""Online payments: the provider's reference, and money to give back.

A callback that confirms a payment for a bill paid another way meanwhile (cash at the branch)
leaves money that is the member's: the payment is `refund_due`, never lost and never counted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE payments ADD COLUMN provider_ref text")
    op.execute("ALTER TABLE payments ALTER COLUMN status TYPE varchar(16)")
    op.execute("ALTER TABLE payments DROP CONSTRAINT payments_status_check")
    op.execute(
        "ALTER TABLE payments ADD CONSTRAINT payments_status_check "
        "CHECK (status IN ('pending', 'paid', 'failed', 'refund_due'))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE payments DROP CONSTRAINT payments_status_check")
    op.execute(
        "ALTER TABLE payments ADD CONSTRAINT payments_status_check "
        "CHECK (status IN ('pending', 'paid', 'failed'))"
    )
    op.execute("ALTER TABLE payments DROP COLUMN provider_ref")
