"""Index for purging old idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idempotency_keys_created")
