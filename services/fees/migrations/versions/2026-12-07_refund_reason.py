"""Why a payment is owed back, kept with it: a repeated callback is answered as the first was.

`refund_due` had one cause, a bill paid another way meanwhile; a bill repriced after the payment
began (a month opened early, a profile changed) is the second. Worked out again from the bill at
each callback, the answer changed with the bill.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE payments ADD COLUMN refund_reason varchar(16) "
        "CHECK (refund_reason IN ('already_paid', 'amount_changed'))"
    )
    op.execute("UPDATE payments SET refund_reason = 'already_paid' WHERE status = 'refund_due'")


def downgrade() -> None:
    op.execute("ALTER TABLE payments DROP COLUMN refund_reason")
