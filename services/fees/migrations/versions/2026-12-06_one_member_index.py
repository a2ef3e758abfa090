"""A member's bills are read through the (member_id, month) unique index: the copy is dropped.

`bills_member (member_id, month DESC)` repeated the unique constraint's index, which PostgreSQL
reads backwards just as well for the newest month first. Every bill written at the month start
and every payment that marks one paid paid for both.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX bills_member")


def downgrade() -> None:
    op.execute("CREATE INDEX bills_member ON bills (member_id, month DESC)")
