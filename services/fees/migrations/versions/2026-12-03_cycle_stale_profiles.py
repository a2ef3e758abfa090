"""How many profiles a cycle billed with an amount from a table other than the month's: an
operator who forgot `zhtj-fees recompute-amounts` learns it on the cycle, not from a member.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE fee_cycles ADD COLUMN profiles_on_other_tables integer NOT NULL DEFAULT 0"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE fee_cycles DROP COLUMN profiles_on_other_tables")
