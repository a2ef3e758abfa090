"""Each review step names the branch whose turn it was: timeliness per organisation is counted
from it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the steps that are no branch's review: the request, a cancellation.
    op.execute("ALTER TABLE transfer_steps ADD COLUMN branch_id uuid")
    op.execute(
        "CREATE INDEX transfer_steps_due ON transfer_steps (due_by) WHERE branch_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX transfer_steps_due")
    op.execute("ALTER TABLE transfer_steps DROP COLUMN branch_id")
