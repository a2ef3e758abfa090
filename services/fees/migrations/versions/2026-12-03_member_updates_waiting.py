"""Changes to a member that arrived before the member did (a creation retried after a failure
while the update behind it went through): kept until the creation comes, then applied.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE fee_member_updates (
            member_id uuid PRIMARY KEY,
            name text,
            status varchar(16),
            noted_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE fee_member_updates")
