"""Remittances up the tree (团费上缴): what each carries, and what its sender kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # held = retained + amount: what the sender held of the month, what it kept, what it sent.
    # to_org_id is NULL for the root's: passed on outside the province.
    op.execute(
        """
        CREATE TABLE remittances (
            id uuid PRIMARY KEY,
            from_org_id uuid NOT NULL,
            to_org_id uuid,
            month date NOT NULL,
            held_fen bigint NOT NULL CHECK (held_fen > 0),
            retained_fen bigint NOT NULL CHECK (retained_fen >= 0),
            amount_fen bigint NOT NULL CHECK (amount_fen >= 0),
            status varchar(12) NOT NULL CHECK (status IN ('sent', 'received', 'passed_on')),
            due_by date NOT NULL,
            sent_at timestamptz NOT NULL DEFAULT now(),
            received_at timestamptz,
            -- The remittance a received one went on in, once its receiver remitted it.
            onward_id uuid REFERENCES remittances (id),
            trace_context jsonb NOT NULL DEFAULT '{}'::jsonb,
            CHECK (held_fen = retained_fen + amount_fen)
        )
        """
    )
    op.execute("CREATE INDEX remittances_to ON remittances (to_org_id, month, status)")
    op.execute("CREATE INDEX remittances_from ON remittances (from_org_id, month)")
    # The bills a branch's remittance carries; NULL while the branch still holds the money.
    op.execute("ALTER TABLE bills ADD COLUMN remittance_id uuid REFERENCES remittances (id)")


def downgrade() -> None:
    op.execute("ALTER TABLE bills DROP COLUMN remittance_id")
    op.execute("DROP TABLE remittances")
