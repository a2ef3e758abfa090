"""Money owed back is given back: a `refund_due` payment becomes `refunded` when the provider
has returned it, with the provider's reference, when, and who asked (none: the callback that
found it owed asked at once).

Until now a payment owed back (paid for a bill paid another way meanwhile, repriced, or taken
away) was recorded and nothing more: no list showed it and nothing returned the money.

Payments are written all through the month start, when a deployment may come: nothing here
holds them back while the table is read (shared.migrations.replace_check,
create_index_concurrently), and a lock that cannot be had within LOCK_TIMEOUT fails the
migration instead of queueing every payment behind it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from alembic import op

from shared.migrations import LOCK_TIMEOUT, create_index_concurrently, replace_check

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    op.execute(
        "ALTER TABLE payments ADD COLUMN IF NOT EXISTS refund_ref text, "
        "ADD COLUMN IF NOT EXISTS refunded_at timestamptz, "
        "ADD COLUMN IF NOT EXISTS refunded_by uuid"
    )
    replace_check(
        "payments",
        "payments_status_check",
        "(status IN ('pending', 'paid', 'failed', 'refund_due', 'refunded'))",
    )
    # The subtree's refunds owed (or given back), newest first, without reading the month
    # start's millions of paid payments: only the two refund states are in it, and the status
    # leads, so that the list of what is owed does not walk every refund ever made.
    create_index_concurrently(
        "payments_refunds",
        "ON payments (status, created_at DESC, id DESC) "
        "WHERE status IN ('refund_due', 'refunded')",
    )


def downgrade() -> None:
    # What was given back is owed again to this schema's eyes; asked again, the provider
    # answers the refund it made (the payment's id is its number there), nothing more.
    op.execute("DROP INDEX payments_refunds")
    op.execute("UPDATE payments SET status = 'refund_due' WHERE status = 'refunded'")
    replace_check(
        "payments", "payments_status_check", "(status IN ('pending', 'paid', 'failed', 'refund_due'))"
    )
    op.execute(
        "ALTER TABLE payments DROP COLUMN refund_ref, DROP COLUMN refunded_at, "
        "DROP COLUMN refunded_by"
    )
