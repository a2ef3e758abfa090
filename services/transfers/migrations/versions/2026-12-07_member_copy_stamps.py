"""When each copied field of a member last changed, so that a change arriving late (from a
retry queue, or another consumer process) does not undo a newer one: a member transferred twice
ended in the first branch when the second transfer's event overtook the first's.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from shared.migrations import add_member_copy_stamps, drop_member_copy_stamps

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_member_copy_stamps("transfer_members", "transfer_member_updates")


def downgrade() -> None:
    drop_member_copy_stamps("transfer_members", "transfer_member_updates")
