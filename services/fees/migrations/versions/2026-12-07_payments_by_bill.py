"""Every payment of a bill by the bill, whatever its status: a departure or a transfer takes
away the bills of a month opened early unless a payment of one was begun, and deleting a bill
has PostgreSQL look for payments that refer to it. Only paid ones were indexed (one paid payment
a bill), so each deleted bill read the whole table, millions of rows after a month start.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op

from shared.migrations import create_index_concurrently

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Built without blocking the payments being written meanwhile (a deployment during the
    # month start): CONCURRENTLY, outside the migration's transaction.
    create_index_concurrently("payments_bill", "ON payments (bill_id)")


def downgrade() -> None:
    op.execute("DROP INDEX payments_bill")
