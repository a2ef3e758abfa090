"""The monthly amount beside the member it bills, so that the month start reads one table.

A chunk of the month start bills the members of its branches. Joined to `fee_profiles` for the
amount, every chunk paid for a pass over all the profiles (a hash join over the whole table, or
one index probe per member into pages spread over all of it): with 50 chunks for a million
members, 1.5-1.9x the one statement that bills them all at once, and more chunks as the province
grows. `fee_members.monthly_fee_fen` is the profile's amount, written in the same transaction
as the profile (fees.service.profiles, fees.service.amounts); NULL while there is no profile.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE fee_members ADD COLUMN monthly_fee_fen integer")
    op.execute(
        "UPDATE fee_members m SET monthly_fee_fen = p.monthly_fee_fen "
        "FROM fee_profiles p WHERE p.member_id = m.member_id"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE fee_members DROP COLUMN monthly_fee_fen")
