"""A member's account is disabled when the member leaves the league's rolls.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE accounts DROP CONSTRAINT accounts_status_check")
    op.execute(
        "ALTER TABLE accounts ADD CONSTRAINT accounts_status_check "
        "CHECK (status IN ('active', 'pending_activation', 'disabled'))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE accounts DROP CONSTRAINT accounts_status_check")
    op.execute(
        "ALTER TABLE accounts ADD CONSTRAINT accounts_status_check "
        "CHECK (status IN ('active', 'pending_activation'))"
    )
