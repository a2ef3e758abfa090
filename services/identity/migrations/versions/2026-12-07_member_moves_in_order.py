"""A member account moves with its member's transfers in the order they occurred, whatever the
order their events arrive in, and a move that arrives before the account is opened waits for it.

Before, a transfer whose event arrived before the account's creation (which had failed once and
came back from its retry queue) or before an earlier transfer's left the account in the wrong
branch for good.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # When the transfer that put the account in its branch occurred; NULL: where it was opened.
    op.execute("ALTER TABLE accounts ADD COLUMN placed_at timestamptz")
    # The newest transfer (org_id, placed_at) and any departure of members whose accounts are
    # not opened yet, applied as each is opened (identity.moves).
    op.execute(
        """
        CREATE TABLE member_moves_waiting (
            member_id uuid PRIMARY KEY,
            org_id uuid,
            placed_at timestamptz,
            departed boolean NOT NULL DEFAULT false,
            noted_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE member_moves_waiting")
    op.execute("ALTER TABLE accounts DROP COLUMN placed_at")
