"""The months in which each account was used (logged in): the assessment's system usage for
any past year, which `last_login_at` alone (the latest only) cannot give.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE account_activity (
            account_id uuid NOT NULL REFERENCES accounts (id),
            month date NOT NULL,
            PRIMARY KEY (account_id, month)
        )
        """
    )
    # The usage figure reads a year's months for the member accounts of a subtree.
    op.execute("CREATE INDEX account_activity_month ON account_activity (month, account_id)")


def downgrade() -> None:
    op.execute("DROP TABLE account_activity")
