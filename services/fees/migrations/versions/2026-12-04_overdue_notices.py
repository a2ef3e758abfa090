"""Overdue holdings already told (fee.remittance_overdue), once per organisation and month.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE overdue_notices (
            org_id uuid NOT NULL,
            month date NOT NULL,
            noticed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (org_id, month)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE overdue_notices")
