"""Money held and not yet remitted, found without reading the month's every bill: what an
organisation holds is what it owes its parent, and past its due date it is overdue.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX bills_held ON bills (branch_id, month, paid_at) "
        "WHERE status = 'paid' AND remittance_id IS NULL"
    )
    op.execute(
        "CREATE INDEX remittances_held ON remittances (to_org_id, month, received_at) "
        "WHERE status = 'received' AND onward_id IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX remittances_held")
    op.execute("DROP INDEX bills_held")
