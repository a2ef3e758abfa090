"""Copies of members and organisations, fee profiles, audit, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from alembic import op

from shared.migrations import create_audit_table, create_messaging_tables, create_org_replica_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What billing needs of each member, fed by member.* events: never an ID or phone number.
    op.execute(
        """
        CREATE TABLE fee_members (
            member_id uuid PRIMARY KEY,
            branch_id uuid NOT NULL,
            name text NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'active',
            joined_on date NOT NULL,
            copied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # A branch's dues list and its members without a profile, in name order.
    op.execute("CREATE INDEX fee_members_branch ON fee_members (branch_id, name, member_id)")
    # The income is sealed (AES-GCM, the member id bound in); billing reads only the amount.
    op.execute(
        """
        CREATE TABLE fee_profiles (
            member_id uuid PRIMARY KEY REFERENCES fee_members (member_id),
            category varchar(32) NOT NULL,
            income_sealed text,
            monthly_fee_fen integer NOT NULL CHECK (monthly_fee_fen >= 0),
            rate_table varchar(64) NOT NULL,
            updated_by uuid,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    create_org_replica_table()
    create_audit_table()
    create_messaging_tables()


def downgrade() -> None:
    for table in ("inbox", "outbox", "audit_log", "org_replica", "fee_profiles", "fee_members"):
        op.execute(f"DROP TABLE {table}")
