"""Spot-check accuracy in pages: the index walks a subtree's checked items branch by branch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # GET /orgs/{id}/spot-check-accuracy groups and pages by (org_path, branch_id).
    op.execute("DROP INDEX spot_check_items_path")
    op.execute(
        "CREATE INDEX spot_check_items_path ON spot_check_items (org_path, branch_id)"
        " WHERE result IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX spot_check_items_path")
    op.execute("CREATE INDEX spot_check_items_path ON spot_check_items (org_path) WHERE result IS NOT NULL")
