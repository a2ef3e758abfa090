"""A bill that goes away while a payment of it was begun is void (作废), not deleted.

A bill of a month opened early goes with its member's departure (or a profile that no longer
pays). A payment begun online refers to it, and the provider may still take that money, so the
bill cannot be deleted; kept `due`, it stayed on the branch's list and in its dues for good.
`void`: in no list, total or rate; a payment the provider then takes is owed back
(`refund_reason` 'bill_void').

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from alembic import op

from shared.migrations import replace_check

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    replace_check("bills", "bills_status_check", "(status IN ('due', 'paid', 'void'))")
    replace_check(
        "payments",
        "payments_refund_reason_check",
        "(refund_reason IN ('already_paid', 'amount_changed', 'bill_void'))",
    )


def downgrade() -> None:
    op.execute("UPDATE bills SET status = 'due' WHERE status = 'void'")
    op.execute("UPDATE payments SET refund_reason = 'already_paid' WHERE refund_reason = 'bill_void'")
    replace_check("bills", "bills_status_check", "(status IN ('due', 'paid'))")
    replace_check(
        "payments",
        "payments_refund_reason_check",
        "(refund_reason IN ('already_paid', 'amount_changed'))",
    )
