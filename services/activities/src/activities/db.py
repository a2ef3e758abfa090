"""Tables of the activities service. The use cases write them with SQL (activities/service/);
the mapping here gives Alembic its metadata and the tests a view of the rows."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ActivityMember(Base):
    """A member as activities knows them, copied from member.* events (no personal numbers):
    who is in an audience."""

    __tablename__ = "activity_members"

    member_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    joined_on: Mapped[date] = mapped_column(Date)


class Activity(Base):
    __tablename__ = "activities"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID)
    org_path: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID))
    title: Mapped[str] = mapped_column(Text)
    theme: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    audience_org_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID))
    capacity: Mapped[int | None] = mapped_column(Integer)
    signup_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signups: Mapped[int] = mapped_column(Integer)
    mailing_id: Mapped[uuid.UUID] = mapped_column(UUID)  # its invitations and their progress
    summary: Mapped[str | None] = mapped_column(Text)
    summary_photo_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID))
    summarised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(UUID)
    recipient_kind: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(48))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
