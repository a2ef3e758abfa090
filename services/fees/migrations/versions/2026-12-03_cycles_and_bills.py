"""Dues cycles, their chunks of branches, and bills (团费收缴名单).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE fee_cycles (
            month date PRIMARY KEY CHECK (extract(day FROM month) = 1),
            chunks_total integer NOT NULL,
            chunks_done integer NOT NULL DEFAULT 0 CHECK (chunks_done <= chunks_total),
            bills integer NOT NULL DEFAULT 0,
            opened_by uuid,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """
    )
    op.execute(
        """
        CREATE TABLE fee_cycle_chunks (
            month date NOT NULL REFERENCES fee_cycles (month),
            chunk_no integer NOT NULL,
            branch_ids uuid[] NOT NULL,
            bills integer,
            done_at timestamptz,
            PRIMARY KEY (month, chunk_no)
        )
        """
    )
    # One bill a member a month, by a constraint: a redelivered chunk or a second opening of
    # the cycle writes nothing twice.
    op.execute(
        """
        CREATE TABLE bills (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            member_id uuid NOT NULL,
            branch_id uuid NOT NULL,
            month date NOT NULL,
            amount_fen integer NOT NULL CHECK (amount_fen >= 0),
            status varchar(8) NOT NULL DEFAULT 'due' CHECK (status IN ('due', 'paid')),
            paid_at timestamptz,
            channel varchar(8) CHECK (channel IN ('cash', 'online')),
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (member_id, month)
        )
        """
    )
    # A branch's dues list of a month.
    op.execute("CREATE INDEX bills_branch_month ON bills (branch_id, month)")


def downgrade() -> None:
    for table in ("bills", "fee_cycle_chunks", "fee_cycles"):
        op.execute(f"DROP TABLE {table}")
