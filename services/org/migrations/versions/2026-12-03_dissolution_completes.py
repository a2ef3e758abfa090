"""Dissolution in two steps: the transfers into each branch still open (from the transfers
service's events), and whether a dissolution was recorded late.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row a transfer, kept when it ends: an end that overtakes its request (the relay's
    # lanes do not keep order) leaves the transfer ended, not open.
    op.execute(
        """
        CREATE TABLE incoming_transfers (
            transfer_id uuid PRIMARY KEY,
            to_branch_id uuid NOT NULL,
            ended boolean NOT NULL DEFAULT false
        )
        """
    )
    op.execute(
        "CREATE INDEX incoming_transfers_open ON incoming_transfers (to_branch_id) WHERE NOT ended"
    )
    op.execute("ALTER TABLE orgs ADD COLUMN dissolution_late boolean NOT NULL DEFAULT false")
    op.execute("CREATE INDEX orgs_dissolving ON orgs (id) WHERE status = 'dissolving'")


def downgrade() -> None:
    op.execute("DROP INDEX orgs_dissolving")
    op.execute("ALTER TABLE orgs DROP COLUMN dissolution_late")
    op.execute("DROP TABLE incoming_transfers")
