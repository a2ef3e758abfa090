"""Activation codes readable by the branch: sealed copy of the code.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Only activation codes keep a (sealed) copy: the branch prints them for its new members.
    op.execute("ALTER TABLE one_time_codes ADD COLUMN code_sealed text")
    # Members' names, to hand the codes out by name; admins have none.
    op.execute("ALTER TABLE accounts ADD COLUMN display_name text")
    op.execute("CREATE INDEX accounts_pending ON accounts (org_id) WHERE status = 'pending_activation'")


def downgrade() -> None:
    op.execute("DROP INDEX accounts_pending")
    op.execute("ALTER TABLE one_time_codes DROP COLUMN code_sealed")
    op.execute("ALTER TABLE accounts DROP COLUMN display_name")
