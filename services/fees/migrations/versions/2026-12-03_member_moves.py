"""A transfer that reaches the copy of members before the member did waits with its branch.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE fee_member_updates ADD COLUMN branch_id uuid")


def downgrade() -> None:
    op.execute("ALTER TABLE fee_member_updates DROP COLUMN branch_id")
