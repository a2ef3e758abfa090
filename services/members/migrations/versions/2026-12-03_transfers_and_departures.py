"""The members side of transfers (which transfers hold a member), and departures.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A member is `transferring` while a transfer here has not ended. One row a transfer, kept
    # when it ends: a step that overtakes the request (the relay's lanes do not keep order
    # between events) finds the transfer already ended and does not mark the member again.
    op.execute(
        """
        CREATE TABLE member_transfers (
            transfer_id uuid PRIMARY KEY,
            member_id uuid NOT NULL,
            ended varchar(16) CHECK (ended IN ('completed', 'rejected', 'cancelled')),
            recorded_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX member_transfers_open ON member_transfers (member_id) WHERE ended IS NULL")
    op.execute("ALTER TABLE members ADD COLUMN departure_reason varchar(16)")
    op.execute("ALTER TABLE members ADD COLUMN departed_on date")


def downgrade() -> None:
    op.execute("ALTER TABLE members DROP COLUMN departed_on")
    op.execute("ALTER TABLE members DROP COLUMN departure_reason")
    op.execute("DROP TABLE member_transfers")
