"""An overdue notice per holding, not per organisation and month for ever.

A holding is the money an organisation holds of a month since its first part arrived
(`since`). Once it is remitted, money of that month arriving later (a late online payment, a
remittance confirmed late) is a new holding with a later `since`, and overdue it is told again;
the same holding is still told once however often the workers look.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE overdue_notices ADD COLUMN since timestamptz")
    # Notices of holdings still held take their holding's start, so none is told twice; those
    # remitted since keep the time they were told, before any later holding's start.
    op.execute(
        """
        UPDATE overdue_notices n SET since = h.since FROM (
          SELECT branch_id AS org_id, month, min(paid_at) AS since FROM bills
          WHERE status = 'paid' AND remittance_id IS NULL GROUP BY branch_id, month
          UNION ALL
          SELECT to_org_id, month, min(received_at) FROM remittances
          WHERE status = 'received' AND onward_id IS NULL GROUP BY to_org_id, month
        ) h WHERE h.org_id = n.org_id AND h.month = n.month
        """
    )
    op.execute("UPDATE overdue_notices SET since = noticed_at WHERE since IS NULL")
    op.execute("ALTER TABLE overdue_notices ALTER COLUMN since SET NOT NULL")
    op.execute("ALTER TABLE overdue_notices DROP CONSTRAINT overdue_notices_pkey")
    op.execute("ALTER TABLE overdue_notices ADD PRIMARY KEY (org_id, month, since)")


def downgrade() -> None:
    op.execute("ALTER TABLE overdue_notices DROP CONSTRAINT overdue_notices_pkey")
    op.execute(
        "DELETE FROM overdue_notices a USING overdue_notices b WHERE a.org_id = b.org_id "
        "AND a.month = b.month AND a.since < b.since"
    )
    op.execute("ALTER TABLE overdue_notices ADD PRIMARY KEY (org_id, month)")
    op.execute("ALTER TABLE overdue_notices DROP COLUMN since")
