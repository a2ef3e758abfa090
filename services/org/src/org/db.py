"""Tables of the org service: the organisation tree and uploaded documents."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(Text)
    original_name: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    # The uploader's organisation: its admins and those above read the document.
    uploader_org_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Org(Base):
    """An organisation (团组织); `path` is the materialized path root .. self."""

    __tablename__ = "orgs"
    __table_args__ = (
        Index("orgs_parent", "parent_id", "name", "id"),
        Index("orgs_path", "path", postgresql_using="gin"),
        # Two live siblings with one name would be indistinguishable to the people choosing them.
        Index(
            "orgs_sibling_name",
            "parent_id",
            "name",
            unique=True,
            postgresql_where=text("status <> 'dissolved'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID, ForeignKey("orgs.id"))
    path: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID))
    name: Mapped[str] = mapped_column(Text)
    org_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    founded_on: Mapped[date] = mapped_column(Date)
    approved_on: Mapped[date] = mapped_column(Date)
    created_late: Mapped[bool] = mapped_column(Boolean, default=False)
    leader_name: Mapped[str | None] = mapped_column(Text)
    leader_phone: Mapped[str | None] = mapped_column(Text)
    approval_document_id: Mapped[uuid.UUID | None] = mapped_column(UUID, ForeignKey("documents.id"))
    # Fed by the members service's events once it exists; dissolution checks it.
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(BigInteger, default=1)
    dissolution_decided_on: Mapped[date | None] = mapped_column(Date)
    dissolution_reason: Mapped[str | None] = mapped_column(Text)
    dissolution_due_by: Mapped[date | None] = mapped_column(Date)
    # Recorded more than the deadline's working days after it was decided.
    dissolution_late: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
