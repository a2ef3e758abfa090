"""Organisation tree, documents, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

from shared.migrations import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE documents (
            id uuid PRIMARY KEY,
            sha256 varchar(64) NOT NULL,
            size integer NOT NULL,
            content_type varchar(64) NOT NULL,
            storage_key text NOT NULL,
            original_name text,
            uploaded_by uuid,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE orgs (
            id uuid PRIMARY KEY,
            parent_id uuid REFERENCES orgs (id),
            path uuid[] NOT NULL,
            name text NOT NULL,
            org_type varchar(32) NOT NULL
                CHECK (org_type IN ('committee', 'working_committee', 'general_branch', 'branch')),
            status varchar(16) NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'dissolving', 'dissolved')),
            founded_on date NOT NULL,
            approved_on date NOT NULL,
            created_late boolean NOT NULL DEFAULT false,
            leader_name text,
            leader_phone text,
            approval_document_id uuid REFERENCES documents (id),
            member_count integer NOT NULL DEFAULT 0,
            revision bigint NOT NULL DEFAULT 1,
            dissolution_decided_on date,
            dissolution_reason text,
            dissolution_due_by date,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX orgs_parent ON orgs (parent_id, name, id)")
    op.execute("CREATE INDEX orgs_path ON orgs USING gin (path)")
    op.execute(
        "CREATE UNIQUE INDEX orgs_sibling_name ON orgs (parent_id, name) WHERE status <> 'dissolved'"
    )
    # Only one root: the provincial committee.
    op.execute("CREATE UNIQUE INDEX orgs_single_root ON orgs ((true)) WHERE parent_id IS NULL")
    create_messaging_tables()


def downgrade() -> None:
    op.execute("DROP TABLE inbox")
    op.execute("DROP TABLE outbox")
    op.execute("DROP TABLE orgs")
    op.execute("DROP TABLE documents")
