"""Tables of the transfers service. The use cases write them with SQL (transfers/service.py);
the mapping here gives Alembic its metadata and the tests a view of the rows."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, String, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class TransferMember(Base):
    """A member as transfers knows them, copied from member.* events (no personal numbers)."""

    __tablename__ = "transfer_members"

    member_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    joined_on: Mapped[date] = mapped_column(Date)
