"""Members, reviews, spot checks, idempotency keys, org copy, audit, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

from shared.migrations import (
    create_audit_table,
    create_idempotency_table,
    create_messaging_tables,
    create_org_replica_table,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE member_no_seq")
    op.execute(
        """
        CREATE TABLE members (
            id uuid PRIMARY KEY,
            member_no varchar(16) NOT NULL UNIQUE,
            branch_id uuid NOT NULL,
            org_path text COLLATE "C" NOT NULL,
            name text NOT NULL,
            gender varchar(6) NOT NULL CHECK (gender IN ('male', 'female')),
            ethnicity text NOT NULL,
            birth_date date NOT NULL,
            id_number_sealed text NOT NULL,
            id_number_hash varchar(64) NOT NULL,
            id_number_masked varchar(18) NOT NULL,
            joined_on date NOT NULL,
            joined_place text NOT NULL,
            phone text,
            email text,
            employer text,
            hobbies text,
            status varchar(16) NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'transferring', 'left')),
            account_created_at timestamptz,
            revision integer NOT NULL DEFAULT 1,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # One record per person in the whole province, whatever branch: the keyed hash is unique.
    op.execute("CREATE UNIQUE INDEX members_id_number ON members (id_number_hash)")
    # A subtree listing is one range of this index, already in display order.
    op.execute("CREATE INDEX members_subtree ON members (org_path, name, id)")
    op.execute("CREATE INDEX members_branch ON members (branch_id, name, id)")
    # Spot checks sample records changed in a period below an organisation.
    op.execute("CREATE INDEX members_changed ON members (org_path, updated_at)")
    op.execute(
        """
        CREATE TABLE reviews (
            id uuid PRIMARY KEY,
            member_id uuid NOT NULL REFERENCES members (id),
            branch_id uuid NOT NULL,
            org_path text COLLATE "C" NOT NULL,
            kind varchar(16) NOT NULL CHECK (kind IN ('self_edit', 'change_request')),
            changes jsonb NOT NULL,
            reason text,
            status varchar(16) NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'rejected')),
            due_by date NOT NULL,
            submitted_by uuid,
            submitted_at timestamptz NOT NULL DEFAULT now(),
            decided_by uuid,
            decided_at timestamptz,
            decision_reason text
        )
        """
    )
    op.execute("CREATE INDEX reviews_pending ON reviews (org_path, due_by) WHERE status = 'pending'")
    op.execute(
        "CREATE UNIQUE INDEX reviews_one_open_request ON reviews (member_id) "
        "WHERE status = 'pending' AND kind = 'change_request'"
    )
    op.execute(
        """
        CREATE TABLE spot_checks (
            id uuid PRIMARY KEY,
            org_id uuid NOT NULL,
            period_from date NOT NULL,
            period_to date NOT NULL,
            ratio double precision NOT NULL CHECK (ratio >= 0.10 AND ratio <= 1),
            population integer NOT NULL,
            checked_by uuid,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE spot_check_items (
            id uuid PRIMARY KEY,
            spot_check_id uuid NOT NULL REFERENCES spot_checks (id),
            member_id uuid NOT NULL REFERENCES members (id),
            branch_id uuid NOT NULL,
            org_path text COLLATE "C" NOT NULL,
            result varchar(8) CHECK (result IN ('pass', 'fail')),
            note text,
            checked_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX spot_check_items_check ON spot_check_items (spot_check_id)")
    op.execute("CREATE INDEX spot_check_items_path ON spot_check_items (org_path) WHERE result IS NOT NULL")
    op.execute(
        """
        CREATE TABLE rectifications (
            id uuid PRIMARY KEY,
            spot_check_item_id uuid NOT NULL REFERENCES spot_check_items (id),
            org_id uuid NOT NULL,
            member_id uuid NOT NULL,
            note text,
            due_by date NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'open',
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX rectifications_org ON rectifications (org_id, status)")
    create_idempotency_table()
    create_org_replica_table()
    create_audit_table()
    create_messaging_tables()


def downgrade() -> None:
    for table in ("inbox", "outbox", "audit_log", "org_replica", "idempotency_keys",
                  "rectifications", "spot_check_items", "spot_checks", "reviews", "members"):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP SEQUENCE member_no_seq")
