"""Finding an organisation by a part of its name within a subtree (the console's tree search):
a trigram index, so `name ILIKE '%…%'` over a province's 200,000 organisations reads the index,
not the table. pg_trgm is a trusted extension: the database's owner may create it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX orgs_name_trgm ON orgs USING gin (name gin_trgm_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX orgs_name_trgm")
