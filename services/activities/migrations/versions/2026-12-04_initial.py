"""Activities with their audiences and sign-ups; announcements and maintenance windows;
mailings written in chunks; the notification inbox; copies
of members and organisations; audit, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
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
    # Who is in an audience, fed by member.* events (shared.member_copy).
    create_member_copy_tables("activity_members", "activity_member_updates")
    op.execute("CREATE INDEX activity_members_branch ON activity_members (branch_id)")
    # A notice written to an audience in chunks of branches by the fan-out work queue: an
    # activity's invitation, an announcement. Its progress is what the publisher follows.
    op.execute(
        """
        CREATE TABLE mailings (
            id uuid PRIMARY KEY,
            kind varchar(48) NOT NULL,
            title text NOT NULL,
            body text NOT NULL,
            link jsonb NOT NULL DEFAULT '{}',
            audience_org_ids uuid[] NOT NULL,
            -- Also by SMS to each organisation's leader (a maintenance notice).
            sms_to_organisations boolean NOT NULL DEFAULT false,
            chunks_total integer NOT NULL,
            chunks_done integer NOT NULL DEFAULT 0,
            notified integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """
    )
    # Chunk 0, when there is one, writes to the audience's organisations (their admins); the
    # others to the active members of their branches.
    op.execute(
        """
        CREATE TABLE mailing_chunks (
            mailing_id uuid NOT NULL REFERENCES mailings (id),
            chunk_no integer NOT NULL,
            branch_ids uuid[] NOT NULL,
            done_at timestamptz,
            notified integer,
            PRIMARY KEY (mailing_id, chunk_no)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE activities (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            org_path uuid[] NOT NULL,
            title text NOT NULL,
            theme text NOT NULL,
            description text NOT NULL DEFAULT '',
            place text NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            -- The organisations whose subtrees are invited (the org itself unless chosen).
            audience_org_ids uuid[] NOT NULL,
            capacity integer CHECK (capacity > 0),
            signup_deadline timestamptz,
            signups integer NOT NULL DEFAULT 0 CHECK (signups >= 0),
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            mailing_id uuid NOT NULL REFERENCES mailings (id),
            summary text,
            summary_photo_ids uuid[],
            summarised_at timestamptz,
            CHECK (ends_at > starts_at),
            CHECK (capacity IS NULL OR signups <= capacity)
        )
        """
    )
    # An organisation's activities by time (GET /orgs/{id}/activities); the ones of a subtree
    # ended without a summary (statistics).
    op.execute("CREATE INDEX activities_of_org ON activities (org_id, starts_at DESC, id)")
    op.execute("CREATE INDEX activities_org_path ON activities USING gin (org_path)")
    op.execute(
        """
        CREATE TABLE activity_signups (
            activity_id uuid NOT NULL REFERENCES activities (id),
            member_id uuid NOT NULL,
            signed_up_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (activity_id, member_id)
        )
        """
    )
    # Notices and maintenance windows (系统公告, 系统维护通知) for an admin's subtree.
    op.execute(
        """
        CREATE TABLE announcements (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            org_path uuid[] NOT NULL,
            kind varchar(12) NOT NULL CHECK (kind IN ('notice', 'maintenance')),
            title text NOT NULL,
            body text NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            read_only boolean NOT NULL DEFAULT false,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            withdrawn_at timestamptz,
            mailing_id uuid NOT NULL REFERENCES mailings (id),
            CHECK (ends_at > starts_at),
            CHECK (NOT read_only OR kind = 'maintenance')
        )
        """
    )
    # The ones not over yet (GET /announcements/active, the gateway's windows).
    op.execute(
        "CREATE INDEX announcements_current ON announcements (ends_at) WHERE withdrawn_at IS NULL"
    )
    # One inbox for every service's notices: a member's (recipient a member id) or an
    # organisation's admins' (recipient the organisation's id); ids never collide.
    op.execute(
        """
        CREATE TABLE notifications (
            id bigserial PRIMARY KEY,
            recipient_id uuid NOT NULL,
            recipient_kind varchar(8) NOT NULL CHECK (recipient_kind IN ('member', 'org')),
            kind varchar(48) NOT NULL,
            title text NOT NULL,
            body text NOT NULL,
            link jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            read_at timestamptz
        )
        """
    )
    # An inbox newest first, and its unread ones counted from a small index.
    op.execute("CREATE INDEX notifications_inbox ON notifications (recipient_id, id DESC)")
    op.execute(
        "CREATE INDEX notifications_unread ON notifications (recipient_id) WHERE read_at IS NULL"
    )
    create_org_replica_table()
    create_audit_table()
    create_messaging_tables()


def downgrade() -> None:
    for table in (
        "inbox",
        "outbox",
        "audit_log",
        "org_replica",
        "notifications",
        "announcements",
        "activity_signups",
        "activities",
        "mailing_chunks",
        "mailings",
        "activity_member_updates",
        "activity_members",
    ):
        op.execute(f"DROP TABLE {table}")
