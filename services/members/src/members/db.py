"""Tables of the members service: member records, reviews and change requests, spot checks."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Float, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Member(Base):
    """A league member's record (团员信息). The ID number is held sealed, hashed and masked only."""

    __tablename__ = "members"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    member_no: Mapped[str] = mapped_column(String(16), unique=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID)
    # '/root/.../branch/' in C collation: a subtree is one index range, in a stable order.
    org_path: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    gender: Mapped[str] = mapped_column(String(6))
    ethnicity: Mapped[str] = mapped_column(Text)
    birth_date: Mapped[date] = mapped_column(Date)
    id_number_sealed: Mapped[str] = mapped_column(Text)
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    joined_on: Mapped[date] = mapped_column(Date)
    joined_place: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    employer: Mapped[str | None] = mapped_column(Text)
    hobbies: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|transferring|left
    departure_reason: Mapped[str | None] = mapped_column(String(16))
    departed_on: Mapped[date | None] = mapped_column(Date)
    account_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Review(Base):
    """A member's change awaiting the branch (信息审核): a self-edit already applied (review after
    the fact) or a key-field change request (关键信息变更申请) applied only on approval."""

    __tablename__ = "reviews"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID)
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID)
    org_path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # self_edit | change_request
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_by: Mapped[date] = mapped_column(Date)
    submitted_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    submitted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    decided_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)


class SpotCheck(Base):
    """An upper organisation's sample of its lower organisations' member records (抽查)."""

    __tablename__ = "spot_checks"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID)
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    ratio: Mapped[float] = mapped_column(Float)
    population: Mapped[int] = mapped_column(Integer)
    checked_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SpotCheckItem(Base):
    __tablename__ = "spot_check_items"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    spot_check_id: Mapped[uuid.UUID] = mapped_column(UUID)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID)
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID)
    org_path: Mapped[str] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(String(8))  # pass | fail
    note: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Rectification(Base):
    """An order to the lower organisation to correct a record that failed a spot check (整改)."""

    __tablename__ = "rectifications"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    spot_check_item_id: Mapped[uuid.UUID] = mapped_column(UUID)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID)
    note: Mapped[str | None] = mapped_column(Text)
    due_by: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MemberTransfer(Base):
    """A transfer that holds (or held) a member, as the transfers service's events told it."""

    __tablename__ = "member_transfers"

    transfer_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID)
    ended: Mapped[str | None] = mapped_column(String(16))  # completed | rejected | cancelled
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
