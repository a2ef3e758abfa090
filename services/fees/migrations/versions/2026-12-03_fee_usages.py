"""Uses of retained dues (团费使用), each decided collectively and public to the members.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE fee_usages (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            amount_fen bigint NOT NULL CHECK (amount_fen > 0),
            purpose text NOT NULL,
            decided_on date NOT NULL,
            decision_ref text NOT NULL,
            document_id uuid,
            recorded_by uuid,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX fee_usages_org ON fee_usages (org_id, created_at DESC, id DESC)")
    op.execute("CREATE INDEX remittances_retained ON remittances (from_org_id) INCLUDE (retained_fen)")


def downgrade() -> None:
    op.execute("DROP INDEX remittances_retained")
    op.execute("DROP TABLE fee_usages")
