"""One account per member, found by member id (member.created looks it up for every event).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE UNIQUE INDEX accounts_member ON accounts (member_id) WHERE member_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX accounts_member")
