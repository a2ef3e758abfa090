"""Outbox, inbox, org copy and a table for handler effects.

Revision ID: 0001
"""

from alembic import op

from shared.migrations import create_messaging_tables, create_org_replica_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()
    create_org_replica_table()
    op.execute("CREATE TABLE effects (event_id uuid NOT NULL, consumer text NOT NULL, note text)")


def downgrade() -> None:
    pass
