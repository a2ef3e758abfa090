"""Transfers with their steps and delay notes; copies of members and organisations; audit,
outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from alembic import op

from shared.migrations import (
    create_audit_table,
    create_member_copy_tables,
    create_messaging_tables,
    create_org_replica_table,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Who may transfer and from where, fed by member.* events (shared.member_copy).
    create_member_copy_tables("transfer_members", "transfer_member_updates")
    op.execute(
        """
        CREATE TABLE transfers (
            id uuid PRIMARY KEY,
            member_id uuid NOT NULL REFERENCES transfer_members (member_id),
            from_branch_id uuid NOT NULL,
            to_branch_id uuid NOT NULL,
            reason varchar(16) NOT NULL,
            note text NOT NULL DEFAULT '',
            status varchar(12) NOT NULL CHECK (status IN
                ('pending_out', 'pending_in', 'completed', 'rejected', 'cancelled')),
            requested_by uuid,
            requested_at timestamptz NOT NULL DEFAULT now(),
            -- The current step's deadline; NULL once the transfer has ended.
            due_by date,
            ended_at timestamptz,
            CHECK (from_branch_id <> to_branch_id)
        )
        """
    )
    # One open transfer a member, whatever races: the database refuses a second.
    op.execute(
        "CREATE UNIQUE INDEX transfers_one_open ON transfers (member_id) "
        "WHERE status IN ('pending_out', 'pending_in')"
    )
    # A branch's transfers out and in, newest first; the overdue ones of open transfers.
    op.execute("CREATE INDEX transfers_out ON transfers (from_branch_id, requested_at DESC, id)")
    op.execute("CREATE INDEX transfers_in ON transfers (to_branch_id, requested_at DESC, id)")
    op.execute(
        "CREATE INDEX transfers_due ON transfers (due_by) "
        "WHERE status IN ('pending_out', 'pending_in')"
    )
    # Every step: who took it, when, against which deadline (the timeliness indicator).
    op.execute(
        """
        CREATE TABLE transfer_steps (
            id bigserial PRIMARY KEY,
            transfer_id uuid NOT NULL REFERENCES transfers (id),
            step varchar(16) NOT NULL,
            actor_account_id uuid,
            actor_role varchar(16) NOT NULL,
            taken_at timestamptz NOT NULL DEFAULT now(),
            taken_on date NOT NULL,
            due_by date,
            reason text
        )
        """
    )
    op.execute("CREATE INDEX transfer_steps_of ON transfer_steps (transfer_id, id)")
    op.execute(
        """
        CREATE TABLE transfer_delay_notes (
            id uuid PRIMARY KEY,
            transfer_id uuid NOT NULL REFERENCES transfers (id),
            branch_id uuid NOT NULL,
            reason text NOT NULL,
            written_by uuid,
            written_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX transfer_delay_notes_of ON transfer_delay_notes (transfer_id)")
    create_org_replica_table()
    create_audit_table()
    create_messaging_tables()


def downgrade() -> None:
    for table in (
        "inbox",
        "outbox",
        "audit_log",
        "org_replica",
        "transfer_delay_notes",
        "transfer_steps",
        "transfers",
        "transfer_member_updates",
        "transfer_members",
    ):
        op.execute(f"DROP TABLE {table}")
