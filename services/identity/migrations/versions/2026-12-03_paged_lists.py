"""Indexes that serve the paged lists in their order: activation codes and the security check.

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
    # A branch's accounts pending activation, by username (GET /orgs/{id}/activation-codes).
    op.execute("DROP INDEX accounts_pending")
    op.execute(
        "CREATE INDEX accounts_pending ON accounts (org_id, username) WHERE status = 'pending_activation'"
    )
    # Admin accounts by username (GET /orgs/{id}/security-check): members far outnumber admins.
    op.execute("CREATE INDEX accounts_admins ON accounts (username) WHERE role = 'admin'")


def downgrade() -> None:
    op.execute("DROP INDEX accounts_admins")
    op.execute("DROP INDEX accounts_pending")
    op.execute("CREATE INDEX accounts_pending ON accounts (org_id) WHERE status = 'pending_activation'")
