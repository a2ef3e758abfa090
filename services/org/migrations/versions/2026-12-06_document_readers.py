"""Who may read a stored document: the admins over the organisation of the admin who uploaded
it (kept from now on), and those over an organisation it approved.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE documents ADD COLUMN uploader_org_id uuid")
    op.execute(
        "CREATE INDEX orgs_approval_document ON orgs (approval_document_id) "
        "WHERE approval_document_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX orgs_approval_document")
    op.execute("ALTER TABLE documents DROP COLUMN uploader_org_id")
