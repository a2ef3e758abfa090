"""Month-end snapshots of system usage per branch: a past year's assessment counts members
where they were then, not where they have moved since.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per branch and month: its member accounts at the month's end, and those used in
    # the year up to that month.
    op.execute(
        """
        CREATE TABLE usage_snapshots (
            month date NOT NULL,
            branch_id uuid NOT NULL,
            used integer NOT NULL,
            members integer NOT NULL,
            taken_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (month, branch_id)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE usage_snapshots")
