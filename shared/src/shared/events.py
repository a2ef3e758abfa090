"""The event envelope and every event contract: the single definition producers and consumers share.

A change to an event is a new version class registered beside the old one, never an edit in place.
Events carry no secrets and no personal data (no ID numbers, phone numbers or incomes).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class Envelope(BaseModel):
    """What travels on the bus. `id` is also the AMQP message_id and the inbox key."""

    id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    producer: str
    data: dict[str, Any]


class Event(BaseModel):
    """Base of every contract; subclasses set `type` and `version`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: ClassVar[str]
    version: ClassVar[int] = 1

    def envelope(self, producer: str, event_id: uuid.UUID | None = None) -> Envelope:
        return self.envelope_of(producer, self.model_dump(mode="json"), event_id)

    @classmethod
    def envelope_of(
        cls, producer: str, data: dict[str, Any], event_id: uuid.UUID | None = None
    ) -> Envelope:
        """An envelope of this type around `data`: `{}` for one whose data a statement writes
        from the row it changes (shared.outbox.event_insert_from)."""
        return Envelope(
            id=event_id or uuid.uuid4(),
            type=cls.type,
            version=cls.version,
            occurred_at=datetime.now(UTC),
            producer=producer,
            data=data,
        )


class UnknownEvent(Exception):
    """No contract for this type and version: a permanent error, the message goes to the DLQ."""


_REGISTRY: dict[tuple[str, int], type[Event]] = {}


def register(cls: type[Event]) -> type[Event]:
    _REGISTRY[(cls.type, cls.version)] = cls
    return cls


def parse_event(envelope: Envelope) -> Event:
    cls = _REGISTRY.get((envelope.type, envelope.version))
    if cls is None:
        raise UnknownEvent(f"{envelope.type} v{envelope.version}")
    return cls.model_validate(envelope.data)


def event_class(type_: str, version: int = 1) -> type[Event]:
    return _REGISTRY[(type_, version)]


OrgType = Literal["committee", "working_committee", "general_branch", "branch"]
OrgStatus = Literal["active", "dissolving", "dissolved"]
Role = Literal["admin", "member"]


# --- org ---------------------------------------------------------------------------------------


class OrgSnapshot(Event):
    """The fields of an organisation other services may keep a copy of."""

    org_id: uuid.UUID
    parent_id: uuid.UUID | None
    path: list[uuid.UUID] = Field(description="root .. self")
    name: str
    org_type: OrgType
    status: OrgStatus
    revision: int = Field(description="grows with every change; copies keep the highest seen")


@register
class OrgCreated(OrgSnapshot):
    type: ClassVar[str] = "org.created"
    founded_on: date
    approved_on: date
    created_late: bool


@register
class OrgUpdated(OrgSnapshot):
    type: ClassVar[str] = "org.updated"
    changed_fields: list[str]


@register
class OrgDissolved(OrgSnapshot):
    type: ClassVar[str] = "org.dissolved"
    decided_on: date


# --- accounts ----------------------------------------------------------------------------------


@register
class AccountCreated(Event):
    type: ClassVar[str] = "account.created"
    account_id: uuid.UUID
    username: str
    role: Role
    org_id: uuid.UUID
    member_id: uuid.UUID | None = None
    status: Literal["active", "pending_activation"]


@register
class AccountFrozen(Event):
    type: ClassVar[str] = "account.frozen"
    account_id: uuid.UUID
    frozen_at: datetime


@register
class AccountUnfrozen(Event):
    type: ClassVar[str] = "account.unfrozen"
    account_id: uuid.UUID
    unfrozen_at: datetime


@register
class AccountPasswordChanged(Event):
    type: ClassVar[str] = "account.password_changed"
    account_id: uuid.UUID
    changed_at: datetime


# --- members -----------------------------------------------------------------------------------


@register
class MemberCreated(Event):
    """A member record exists; identity opens the member's account (pending activation).

    The name is here because the branch hands out activation codes by name; ID and phone numbers
    never are.
    """

    type: ClassVar[str] = "member.created"
    member_id: uuid.UUID
    branch_id: uuid.UUID
    member_no: str
    name: str
    joined_on: date


class ImportedMember(BaseModel):
    """One member of a `member.imported` chunk: what `member.created` says of a member."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    member_id: uuid.UUID
    member_no: str
    name: str
    joined_on: date


@register
class MembersImported(Event):
    """Members an import created in one branch, a chunk of them (up to IMPORT_CHUNK) an event.

    Each entry means what a `member.created` means, and consumers treat it so (`created()`).
    Why chunks: one event a member made a 10,000-row import 10,000 messages through every
    queue that takes new members, and on our hardware the broker's share of that took longer
    than everything else between the import and its accounts.
    """

    type: ClassVar[str] = "member.imported"
    branch_id: uuid.UUID
    members: list[ImportedMember] = Field(min_length=1)

    def created(self) -> list[MemberCreated]:
        return [
            MemberCreated(branch_id=self.branch_id, **member.model_dump())
            for member in self.members
        ]


# A chunk of 500 is ~60 KB of JSON: small for the broker, and one consumer batch's worth.
IMPORT_CHUNK = 500
# Both say "these members are new"; a consumer of new members subscribes to both.
MEMBER_CREATION_EVENTS = ("member.created", "member.imported")


def new_members_in(event: Event) -> int:
    """How many new members an event tells of: a consumer's batch weight (BatchingInbox)."""
    return len(event.members) if isinstance(event, MembersImported) else 1


def members_created_in(events: Iterable[Event]) -> list[MemberCreated]:
    """Every new member the events tell of, whether one by one or by import."""
    created: list[MemberCreated] = []
    for event in events:
        if isinstance(event, MemberCreated):
            created.append(event)
        elif isinstance(event, MembersImported):
            created.extend(event.created())
    return created


# Values other services may see; phone, email, hobbies, birth date and ID number never travel.
MEMBER_PUBLIC_FIELDS = ("name", "gender", "ethnicity", "joined_on", "joined_place", "status")


@register
class MemberUpdated(Event):
    type: ClassVar[str] = "member.updated"
    member_id: uuid.UUID
    branch_id: uuid.UUID
    changed_fields: list[str]
    values: dict[str, str] = Field(
        description="new values of the changed MEMBER_PUBLIC_FIELDS only"
    )


@register
class MemberChangeRequested(Event):
    type: ClassVar[str] = "member.change_requested"
    member_id: uuid.UUID
    branch_id: uuid.UUID
    request_id: uuid.UUID
    fields: list[str]
    due_by: date


@register
class MemberChangeApproved(Event):
    type: ClassVar[str] = "member.change_approved"
    member_id: uuid.UUID
    branch_id: uuid.UUID
    request_id: uuid.UUID
    fields: list[str]


@register
class MemberChangeRejected(Event):
    """The activities service turns this into a notification asking the member to correct."""

    type: ClassVar[str] = "member.change_rejected"
    member_id: uuid.UUID
    branch_id: uuid.UUID
    request_id: uuid.UUID
    kind: Literal["self_edit", "change_request"]
    fields: list[str]
    reason: str


@register
class MemberTransferred(Event):
    """A completed transfer moved the record: identity moves the account's scope, org the
    counts, fees the bills of months to come, every copy the member's branch. The paths are
    the branches' from the root, so a consumer needs no tree to tell whose scope changed."""

    type: ClassVar[str] = "member.transferred"
    member_id: uuid.UUID
    transfer_id: uuid.UUID
    from_branch_id: uuid.UUID
    to_branch_id: uuid.UUID
    from_path: list[uuid.UUID]
    to_path: list[uuid.UUID]


@register
class MemberTransferRefused(Event):
    """A completed transfer the record did not follow: by the time its completion came, the
    member had left the rolls (`departed`: the departure raced the transfer, before the members
    service heard of its request) or was in another branch (`elsewhere`). transfers records the
    transfer as ended without the move; no copy of members moves."""

    type: ClassVar[str] = "member.transfer_refused"
    member_id: uuid.UUID
    transfer_id: uuid.UUID
    from_branch_id: uuid.UUID
    to_branch_id: uuid.UUID
    reason: Literal["departed", "elsewhere"]


DepartureReason = Literal["over_age", "joined_party", "removed", "deceased", "other"]


@register
class MemberDeparted(Event):
    """The record ended (离团): over age, joined the party, removed, deceased. The member is
    inactive everywhere: the account is disabled, the branch counts one less, no more bills."""

    type: ClassVar[str] = "member.departed"
    member_id: uuid.UUID
    branch_id: uuid.UUID
    reason: DepartureReason
    on: date


# Events after which a member is elsewhere or nowhere: every copy of members takes them.
MEMBER_MOVE_EVENTS = ("member.transferred", "member.departed")


ORG_EVENTS = ("org.created", "org.updated", "org.dissolved")
ACCOUNT_EVENTS = (
    "account.created",
    "account.frozen",
    "account.unfrozen",
    "account.password_changed",
)


class BranchBills(BaseModel):
    """One branch's dues list of a month, in figures."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    branch_id: uuid.UUID
    bills: int
    due_fen: int


@register
class BillsGenerated(Event):
    """The dues lists (收缴名单) of a month of a chunk of branches are written: each branch's
    counts and total, never a bill each. One event a chunk (~1,000 branches), not a branch: the
    month start of a province is ~50 messages, not 50,000, and the relay and broker stay out of
    the way of the workers. Notifications tell each listed branch."""

    type: ClassVar[str] = "fee.bills_generated"
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    chunk_no: int
    branches: list[BranchBills]


@register
class FeePaid(Event):
    """A bill was paid (cash recorded by the branch, or online confirmed by the provider)."""

    type: ClassVar[str] = "fee.paid"
    bill_id: uuid.UUID
    payment_id: uuid.UUID
    member_id: uuid.UUID
    branch_id: uuid.UUID
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    amount_fen: int
    channel: Literal["cash", "online"]


@register
class FeeRemitted(Event):
    """An organisation sent its month's dues, less what it keeps, to its parent (团费上缴); the
    root's goes on outside the province (`to_org_id` None)."""

    type: ClassVar[str] = "fee.remitted"
    remittance_id: uuid.UUID
    from_org_id: uuid.UUID
    to_org_id: uuid.UUID | None
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    amount_fen: int
    retained_fen: int
    due_by: date


@register
class RemittanceReceived(Event):
    type: ClassVar[str] = "fee.remittance_received"
    remittance_id: uuid.UUID
    from_org_id: uuid.UUID
    to_org_id: uuid.UUID
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    amount_fen: int


@register
class RemittanceOverdue(Event):
    """An organisation holds a month's dues past the date it should have remitted them by
    (5 working days for a branch, 10 above, from the first money held): told once per
    organisation and month, to it and to the parent waiting for the money."""

    type: ClassVar[str] = "fee.remittance_overdue"
    org_id: uuid.UUID
    parent_id: uuid.UUID | None
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    held_fen: int
    due_by: date


# --- supervision (监督与考核) -------------------------------------------------------------------

RectificationSource = Literal["inspection", "spot_check"]


@register
class SpotCheckFailed(Event):
    """A spot-checked record failed: the branch that keeps it must correct it (整改) by `due_by`,
    and the checking organisation follows it up. The org service keeps the rectification from
    here on, in one list with the inspections' findings (the note stays in members)."""

    type: ClassVar[str] = "member.spot_check_failed"
    rectification_id: uuid.UUID
    spot_check_item_id: uuid.UUID
    branch_id: uuid.UUID
    checking_org_id: uuid.UUID
    due_by: date


class RectificationEvent(Event):
    """A step of a rectification notice: whose it is and who follows it up. The finding's and
    the report's words stay in the org service."""

    rectification_id: uuid.UUID
    org_id: uuid.UUID  # the lower organisation that must correct
    inspector_org_id: uuid.UUID  # the upper organisation that ordered it


@register
class RectificationOrdered(RectificationEvent):
    type: ClassVar[str] = "rectification.ordered"
    source: RectificationSource
    area: str
    due_by: date


@register
class RectificationSubmitted(RectificationEvent):
    type: ClassVar[str] = "rectification.submitted"


@register
class RectificationDecided(RectificationEvent):
    type: ClassVar[str] = "rectification.decided"
    decision: Literal["accepted", "sent_back"]


# --- transfers ---------------------------------------------------------------------------------


class TransferEvent(Event):
    """What every step of a transfer (组织关系转接) tells: whose, from where, to where. Reasons
    are free text a branch wrote: they stay in the transfers service, readable on the transfer."""

    transfer_id: uuid.UUID
    member_id: uuid.UUID
    from_branch_id: uuid.UUID
    to_branch_id: uuid.UUID


@register
class TransferRequested(TransferEvent):
    """Asked for; the out-branch reviews by `due_by`. The members service marks the member
    `transferring` (no edits, no second transfer) until the transfer ends."""

    type: ClassVar[str] = "transfer.requested"
    due_by: date


@register
class TransferOutApproved(TransferEvent):
    """The out-branch let the member go; the in-branch reviews by `due_by`."""

    type: ClassVar[str] = "transfer.out_approved"
    due_by: date


@register
class TransferCompleted(TransferEvent):
    """The in-branch took the member in: the members service moves the record."""

    type: ClassVar[str] = "transfer.completed"


@register
class TransferRejected(TransferEvent):
    """Refused by the branch whose turn it was (`at`), or by the system when the target stopped
    being active (`code` transfer.target_inactive); the member stays where they were."""

    type: ClassVar[str] = "transfer.rejected"
    at: Literal["out", "in"]
    code: str | None = None


@register
class TransferCancelled(TransferEvent):
    """Withdrawn by whoever asked, before the out-branch's review."""

    type: ClassVar[str] = "transfer.cancelled"


# The steps after which a transfer is over, one way or another.
TRANSFER_ENDS = ("transfer.completed", "transfer.rejected", "transfer.cancelled")


# --- announcements -----------------------------------------------------------------------------


@register
class AnnouncementPublished(Event):
    """A notice or maintenance window (系统公告, 系统维护通知) for an organisation's subtree. A
    `read_only` window is what the gateway applies: between `starts_at` and `ends_at` it answers
    writes with 503 `system.maintenance`."""

    type: ClassVar[str] = "announcement.published"
    announcement_id: uuid.UUID
    org_id: uuid.UUID
    kind: Literal["notice", "maintenance"]
    starts_at: datetime
    ends_at: datetime
    read_only: bool = False


@register
class AnnouncementWithdrawn(Event):
    """Taken back before its end: a maintenance window withdrawn stops making the system
    read-only at once."""

    type: ClassVar[str] = "announcement.withdrawn"
    announcement_id: uuid.UUID


ANNOUNCEMENT_EVENTS = ("announcement.published", "announcement.withdrawn")
