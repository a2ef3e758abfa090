"""Inspections of lower organisations and rectification notices (监督检查与整改): the
inspections' findings and the members service's failed spot checks in one list.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from alembic import op

from shared.migrations import create_audit_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Who opened an inspection, ordered, reported, accepted or sent back: the org service's
    # first audited actions.
    create_audit_table()
    op.execute(
        """
        CREATE TABLE inspections (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL REFERENCES orgs (id),
            inspector_org_id uuid NOT NULL REFERENCES orgs (id),
            areas text[] NOT NULL,
            note text,
            opened_by uuid NOT NULL,
            opened_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX inspections_inspector ON inspections (inspector_org_id, opened_at)")
    op.execute("CREATE INDEX inspections_org ON inspections (org_id, opened_at)")
    # org_path: the lower organisation's path, so that a subtree's notices are one index scan.
    # A spot check's notice has no inspection; its id is the members service's rectification id
    # (the event that brings it is applied once, whatever the redeliveries).
    op.execute(
        """
        CREATE TABLE rectifications (
            id uuid PRIMARY KEY,
            source varchar(16) NOT NULL,
            inspection_id uuid REFERENCES inspections (id),
            spot_check_item_id uuid,
            org_id uuid NOT NULL REFERENCES orgs (id),
            org_path uuid[] NOT NULL,
            inspector_org_id uuid NOT NULL REFERENCES orgs (id),
            area varchar(32) NOT NULL,
            finding text,
            due_by date NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'open',
            report text,
            report_document_ids uuid[] NOT NULL DEFAULT '{}',
            submitted_at timestamptz,
            sent_back_reason text,
            decided_at timestamptz,
            rounds integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX rectifications_subtree ON rectifications USING gin (org_path)")
    op.execute("CREATE INDEX rectifications_inspection ON rectifications (inspection_id)")
    # The overdue list: notices waiting for the lower organisation, by due date.
    op.execute(
        "CREATE INDEX rectifications_waiting ON rectifications (due_by) "
        "WHERE status IN ('open', 'sent_back')"
    )


def downgrade() -> None:
    op.execute("DROP TABLE rectifications")
    op.execute("DROP TABLE inspections")
    op.execute("DROP TABLE audit_log")
