"""Accounts, failed log-ins, one-time codes, admin applications, org copy, audit, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

from shared.migrations import create_audit_table, create_messaging_tables, create_org_replica_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE accounts (
            id uuid PRIMARY KEY,
            username varchar(64) NOT NULL UNIQUE,
            password_hash text,
            role varchar(16) NOT NULL CHECK (role IN ('admin', 'member')),
            org_id uuid NOT NULL,
            member_id uuid,
            status varchar(24) NOT NULL CHECK (status IN ('active', 'pending_activation')),
            frozen boolean NOT NULL DEFAULT false,
            frozen_reason text,
            frozen_at timestamptz,
            must_change_password boolean NOT NULL DEFAULT true,
            password_changed_at timestamptz,
            last_login_at timestamptz,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX accounts_org ON accounts (org_id, role)")
    op.execute("CREATE INDEX accounts_frozen ON accounts (id) WHERE frozen")
    op.execute(
        """
        CREATE TABLE login_failures (
            id bigserial PRIMARY KEY,
            account_id uuid NOT NULL REFERENCES accounts (id),
            failed_at timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX login_failures_recent ON login_failures (account_id, failed_at)")
    op.execute(
        """
        CREATE TABLE one_time_codes (
            id uuid PRIMARY KEY,
            account_id uuid NOT NULL REFERENCES accounts (id),
            purpose varchar(16) NOT NULL CHECK (purpose IN ('activation', 'reset')),
            code_digest varchar(64) NOT NULL,
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX one_time_codes_account ON one_time_codes (account_id) WHERE used_at IS NULL")
    op.execute(
        """
        CREATE TABLE admin_applications (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            parent_org_id uuid NOT NULL,
            responsible_name text NOT NULL,
            responsible_phone text NOT NULL,
            requested_username varchar(64) NOT NULL,
            form_document_id uuid NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'rejected')),
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            decided_by uuid,
            decided_at timestamptz,
            reject_reason text,
            account_id uuid REFERENCES accounts (id)
        )
        """
    )
    op.execute("CREATE INDEX admin_applications_parent ON admin_applications (parent_org_id, status)")
    create_org_replica_table()
    create_audit_table()
    create_messaging_tables()


def downgrade() -> None:
    for table in ("inbox", "outbox", "audit_log", "org_replica", "admin_applications",
                  "one_time_codes", "login_failures", "accounts"):
        op.execute(f"DROP TABLE {table}")
