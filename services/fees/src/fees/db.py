"""Tables of the fees service: its copy of the members billing needs, and fee profiles."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class FeeMember(Base):
    """A member as billing knows it, copied from member.* events (no personal numbers)."""

    __tablename__ = "fee_members"

    member_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    joined_on: Mapped[date] = mapped_column(Date)
    copied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The fee profile's amount, written with it (NULL: no profile yet): the month start bills
    # from this table alone, not joined to every profile for each chunk of branches.
    monthly_fee_fen: Mapped[int | None] = mapped_column(Integer)


class FeeProfile(Base):
    """What a member pays each month (缴费信息): the category, the income sealed, and the amount
    the rate table in force derived from them, which is all the month start reads."""

    __tablename__ = "fee_profiles"

    member_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("fee_members.member_id"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(32))
    income_sealed: Mapped[str | None] = mapped_column(Text)
    monthly_fee_fen: Mapped[int] = mapped_column(Integer)
    rate_table: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FeeCycle(Base):
    """A month's dues cycle: its chunks of branches, and how far generation has come."""

    __tablename__ = "fee_cycles"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    chunks_total: Mapped[int] = mapped_column(Integer)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    bills: Mapped[int] = mapped_column(Integer, default=0)
    opened_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Profiles whose amount a table other than the month's came from, when the cycle opened.
    profiles_on_other_tables: Mapped[int] = mapped_column(Integer, default=0)


class Bill(Base):
    """One member's dues of one month (the branch's 收缴名单 is its bills of the month)."""

    __tablename__ = "bills"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID)
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID)
    month: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default="due")
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
