"""HTTP routes of the fees service: parse, authorize, call a use case, shape the answer."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictInt

from fees.domain.months import check_not_too_far, label, parse_month
from fees.domain.rates import FeeRuleError
from fees.provider import (
    SIGNATURE_HEADER,
    PaymentProvider,
    ProviderUnavailable,
    signed_by_provider,
)
from fees.rules import FeeRules
from fees.service import (
    bills,
    cycles,
    holdings,
    payments,
    profiles,
    refunds,
    refused_by_rules,
    remittances,
    usages,
)
from fees.service.cycles import CycleState
from fees.settings import FeesSettings
from shared.assessment_routes import add_assessment_route
from shared.calendar import WorkingDayCalendar, beijing_today
from shared.caller import SYSTEM_CALLER
from shared.contract import problems
from shared.documents import uploaded_types
from shared.http import (
    CallerDep,
    Day,
    LimitQuery,
    NonBlank,
    ReadsDep,
    ReadSessionDep,
    SessionDep,
    app_resource,
    app_settings,
    page_of,
    read_cursor,
    route_policy,
    session_for,
)
from shared.idempotency import answered_once, forget, request_hash
from shared.lane import fast_lane
from shared.logging import get_logger
from shared.orgtree import replica_node_in_scope
from shared.problems import Problem
from shared.report_sheet import Figure, percent, report_export, xlsx_answer

log = get_logger(__name__)
router = APIRouter()
# API.md: POSTs that move money take an `Idempotency-Key`; a repeat with the same key gets the
# first answer and changes nothing (shared.idempotency), even when the first commit's answer was
# lost with its connection and the request ran again (shared.retry).
IdempotencyKey = Annotated[str | None, Header(max_length=200)]


class FeeProfileIn(BaseModel):
    category: str = Field(
        min_length=1,
        max_length=32,
        description="`salaried`, or a category of the rate table in force (`student`, ...)",
    )
    # Strict: `true` or `"100000"` is a mistake in the form, not an income of 1 or 100,000 fen.
    monthly_income_fen: StrictInt | None = Field(
        default=None, description="after tax, in fen; required for `salaried` only"
    )


class FeeProfileOut(BaseModel):
    member_id: uuid.UUID
    category: str
    monthly_fee_fen: int
    rate_table: str
    updated_at: datetime


class FeeProfileFormOut(BaseModel):
    member_id: uuid.UUID
    category: str | None = Field(description="null: not filled in yet (未填写缴费信息)")
    monthly_fee_fen: int | None
    rate_table: str = Field(
        description="the table the profile was priced by, else the one in force"
    )
    updated_at: datetime | None
    categories: list[str] = Field(
        description="what the member may declare: `salaried` (with an income) and the flat "
        "categories of the rate table that prices their next bill"
    )


@router.get(
    "/members/{member_id}/fee-profile",
    response_model=FeeProfileFormOut,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def get_fee_profile(
    member_id: uuid.UUID, request: Request, session: ReadSessionDep, caller: CallerDep
) -> FeeProfileFormOut:
    """The member's fee profile as its form shows it; never the income, which is sealed."""
    form = await profiles.profile_form(
        session,
        caller,
        app_resource(request, "rules", FeeRules),
        member_id,
        today=beijing_today(),
    )
    profile = form.profile
    return FeeProfileFormOut(
        member_id=form.member_id,
        category=profile.category if profile else None,
        monthly_fee_fen=profile.monthly_fee_fen if profile else None,
        rate_table=profile.rate_table if profile else form.rate_table,
        updated_at=profile.updated_at if profile else None,
        categories=form.categories,
    )


@router.put(
    "/members/{member_id}/fee-profile",
    response_model=FeeProfileOut,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def put_fee_profile(
    member_id: uuid.UUID,
    body: FeeProfileIn,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
) -> FeeProfileOut:
    """The member themselves or an admin over their branch. The income is sealed at once and
    never returned: the answer says what it makes a month."""
    async with session.begin():
        done = await profiles.set_profile(
            session,
            caller,
            app_resource(request, "rules", FeeRules),
            member_id,
            body.category,
            body.monthly_income_fen,
            today=beijing_today(),
        )
    return FeeProfileOut(
        member_id=done.member_id,
        category=done.category,
        monthly_fee_fen=done.monthly_fee_fen,
        rate_table=done.rate_table,
        updated_at=done.updated_at,
    )


class CycleIn(BaseModel):
    month: str = Field(
        examples=["2027-01"],
        description="YYYY-MM: this month or the next; an earlier month opens only to bill one "
        "that was never opened (members recorded before it began, at today's amounts)",
    )


class CycleOut(BaseModel):
    month: str
    status: Literal["generating", "done"]
    chunks_total: int
    chunks_done: int
    bills: int
    started_at: datetime
    finished_at: datetime | None
    profiles_on_other_tables: int = Field(
        description="profiles whose amount a rate table other than the month's made, when the "
        "cycle opened: billed as they stood (run `zhtj-fees recompute-amounts` before the 1st)"
    )

    @classmethod
    def of(cls, state: CycleState) -> CycleOut:
        return cls(
            month=label(state.month),
            status="done" if state.finished_at is not None else "generating",
            chunks_total=state.chunks_total,
            chunks_done=state.chunks_done,
            bills=state.bills,
            started_at=state.started_at,
            finished_at=state.finished_at,
            profiles_on_other_tables=state.profiles_on_other_tables,
        )


def month_of(text: str, field: str = "month") -> date:
    try:
        return parse_month(text)
    except FeeRuleError as refused:
        raise refused_by_rules(refused, field) from None


@router.post(
    "/fee-cycles",
    status_code=202,
    response_model=CycleOut,
    openapi_extra=route_policy(),
)
async def open_cycle(
    body: CycleIn, request: Request, session: SessionDep, caller: CallerDep
) -> CycleOut:
    """Opens the month's dues cycle: its bills are written by the `fees-worker` processes, a
    chunk of branches at a time; follow them on GET /fee-cycles/{month}. Asking again opens
    nothing twice."""
    month = month_of(body.month)
    rules = app_resource(request, "rules", FeeRules)
    async with session.begin():
        await cycles.require_root_admin(session, caller)
        try:
            state = await cycles.open_cycle(
                session,
                caller,
                month,
                today=beijing_today(),
                rate_table=rules.schedule.in_force(month).name,
            )
        except FeeRuleError as refused:
            raise refused_by_rules(refused, "month") from None
    return CycleOut.of(state)


@router.get(
    "/fee-cycles/{month}",
    response_model=CycleOut,
    openapi_extra=route_policy(),
)
async def read_cycle(month: str, session: ReadSessionDep, caller: CallerDep) -> CycleOut:
    when = month_of(month)
    await cycles.require_root_admin(session, caller)
    return CycleOut.of(await cycles.cycle_state(session, when))


class BillOut(BaseModel):
    id: uuid.UUID
    member_id: uuid.UUID
    member_name: str
    amount_fen: int
    status: Literal["due", "paid"]
    paid_at: datetime | None
    channel: Literal["cash", "online"] | None


class BillTotals(BaseModel):
    count: int
    due_fen: int
    paid_count: int
    paid_fen: int


class MissingProfileOut(BaseModel):
    member_id: uuid.UUID
    name: str


class BranchBills(BaseModel):
    items: list[BillOut]
    next_cursor: str | None
    totals: BillTotals = Field(description="of the whole month's list, not of this page")
    missing_profile: list[MissingProfileOut] = Field(
        description="active members without a fee profile (未填写缴费信息), by name"
    )
    missing_profile_count: int


@router.get(
    "/orgs/{branch_id}/bills",
    response_model=BranchBills,
    openapi_extra=route_policy(org_param="branch_id"),
)
async def branch_bills(
    branch_id: uuid.UUID,
    month: str,
    session: ReadSessionDep,
    caller: CallerDep,
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> BranchBills:
    """A branch's dues list of a month (收缴名单), by member name, in pages."""
    when = month_of(month)
    after = read_cursor(cursor, lambda p: (str(p["name"]), uuid.UUID(str(p["id"]))))
    await replica_node_in_scope(session, caller, branch_id)
    lines, next_cursor = page_of(
        await bills.bill_lines(session, branch_id, when, after, limit + 1),
        limit,
        lambda b: {"name": b.member_name, "id": str(b.member_id)},
    )
    total = await bills.totals(session, branch_id, when)
    missing, missing_count = await bills.missing_profiles(session, branch_id)
    return BranchBills(
        items=[BillOut.model_validate(line, from_attributes=True) for line in lines],
        next_cursor=next_cursor,
        totals=BillTotals.model_validate(total, from_attributes=True),
        missing_profile=[
            MissingProfileOut.model_validate(m, from_attributes=True) for m in missing
        ],
        missing_profile_count=missing_count,
    )


class PaymentIn(BaseModel):
    channel: Literal["cash", "online"]


RefundReason = Literal["already_paid", "amount_changed", "bill_void"]


class PaymentOut(BaseModel):
    id: uuid.UUID
    bill_id: uuid.UUID
    amount_fen: int
    channel: Literal["cash", "online"]
    status: Literal["pending", "paid", "failed", "refund_due", "refunded"] = Field(
        description="online payments are pending until the provider calls back; one that paid "
        "nothing is owed back (refund_due) until the provider has given it back (refunded)"
    )
    paid_at: datetime | None
    refund_reason: RefundReason | None = Field(
        default=None, description="why a payment is owed back: see RefundOut.reason"
    )


def _payment_answer(payment: payments.Payment) -> dict[str, object]:
    return PaymentOut.model_validate(payment, from_attributes=True).model_dump(mode="json")


@router.post(
    "/bills/{bill_id}/payments",
    status_code=201,
    response_model=PaymentOut,
    openapi_extra=route_policy(allow="admin_or_member"),
    responses=problems(409),  # fee.already_paid
)
@fast_lane  # the month start's peak
async def pay_bill(
    bill_id: uuid.UUID,
    body: PaymentIn,
    request: Request,
    reads: ReadsDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """`cash`: the branch's admin records money handed over; paid at once. `online`: the member
    pays through the payment provider; pending until the provider's signed callback. A repeat
    with the same `Idempotency-Key` gets the first answer and pays nothing twice."""
    provider = app_resource(request, "provider", PaymentProvider)
    if body.channel == "online" and provider is None:
        raise Problem(
            422,
            "fee.channel_unavailable",
            "Online payment is not connected in this installation yet; pay the branch in cash.",
            errors=[{"field": "channel", "message": "online payment is not available"}],
        )
    account, key = caller.account_id, idempotency_key or None
    remembered = account is not None and key is not None
    if body.channel == "cash" and not remembered:
        # The month start's peak: two statements alone on the driver, no session.
        payment = await payments.record_cash(reads, caller, bill_id)
        return JSONResponse(_payment_answer(payment), status_code=201)
    made: list[payments.Payment] = []  # none when the key replays the first answer
    fingerprint = request_hash(str(bill_id), body.channel)
    async with session_for(request) as session, session.begin():

        async def pay() -> dict[str, object]:
            if body.channel == "cash":
                made.append(await payments.record_cash(session, caller, bill_id))
            else:
                made.append(await payments.start_online(session, caller, bill_id))
            return _payment_answer(made[0])

        answer = await answered_once(session, account, key, fingerprint, 201, pay)
    if not made:
        return JSONResponse(answer.body, status_code=answer.status_code)
    payment = made[0]
    if body.channel == "online":
        # After the commit: the pending payment exists before the provider hears of it, so a
        # callback can never arrive for a payment we do not know.
        try:
            reference: str | None = await provider.create(payment.id, payment.amount_fen)
        except ProviderUnavailable:
            reference = None
        async with session_for(request) as session, session.begin():
            settled = await payments.provider_answered(session, payment.id, reference)
            if settled is not None and settled.status == "paid":
                # The provider's callback came before its own answer did: paid, whatever the
                # answer said.
                return JSONResponse(_payment_answer(settled), status_code=201)
            if reference is None and account is not None and key is not None:
                # Nothing happened after all: a retry with the same key must pay, not replay.
                await forget(session, account, key)
        if reference is None:
            raise Problem(
                503,
                "fee.provider_unavailable",
                "The payment provider did not take the payment; nothing was charged. Try again.",
                headers={"Retry-After": "30"},
            )
    return JSONResponse(answer.body, status_code=answer.status_code)


def _sessions_of(request: Request) -> refunds.Sessions:
    """A session per transaction, each holding a database turn only while it is open: a route
    that waits on the payment provider in between must not hold one meanwhile (twenty refunds
    waiting on a provider that hangs would take every turn from the month start's payments)."""
    return lambda: session_for(request)


class ProviderCallback(BaseModel):
    payment_id: uuid.UUID
    status: Literal["paid", "failed"]


@router.post(
    "/payments/callback",
    response_model=PaymentOut,
    openapi_extra=route_policy(public=True),
    # fee.bad_signature, fee.payment_not_found, fee.already_paid, fee.amount_changed,
    # fee.bill_void, a body not understood
    responses=problems(401, 404, 409, 422),
)
async def provider_callback(request: Request) -> PaymentOut:
    """The payment provider tells how an online payment ended, signed with the shared key
    (`X-Provider-Signature`: HMAC-SHA256 of the body, hex). Told twice, nothing changes."""
    raw = await request.body()
    key = app_resource(request, "callback_key", bytes)
    if not signed_by_provider(key, raw, request.headers.get(SIGNATURE_HEADER)):
        raise Problem(401, "fee.bad_signature", "The callback is not signed by the provider.")
    try:
        told = ProviderCallback.model_validate_json(raw)
    except ValueError as exc:
        raise Problem(422, "request.invalid", "The callback body is not understood.") from exc
    async with session_for(request) as session, session.begin():
        payment = await payments.settle_callback(session, told.payment_id, told.status == "paid")
    provider = app_resource(request, "provider", PaymentProvider)
    if payment.status == "refund_due" and provider is not None:
        # Owed back: given back at once. A provider that does not answer leaves it listed for an
        # admin to ask again (`POST /payments/{id}/refund`).
        try:
            payment = await refunds.give_back(
                _sessions_of(request), provider, SYSTEM_CALLER, payment.id
            )
        except ProviderUnavailable:
            log.warning("refund_deferred", payment_id=str(payment.id))
    if payment.refund_reason == "bill_void":
        raise Problem(
            409,
            "fee.bill_void",
            "The bill was taken away (its member left, or pays no dues any more); this payment "
            "goes back to the member.",
        )
    if payment.refund_reason == "amount_changed":
        raise Problem(
            409,
            "fee.amount_changed",
            "The bill's amount changed after this payment began; this payment goes back to the "
            "member and the bill is still due at its new amount.",
        )
    if payment.refund_reason is not None:
        raise Problem(
            409,
            "fee.already_paid",
            "The bill was paid another way meanwhile; this payment goes back to the member.",
        )
    return PaymentOut.model_validate(payment, from_attributes=True)


@router.post(
    "/payments/{payment_id}/refund",
    response_model=PaymentOut,
    openapi_extra=route_policy(),
    # fee.payment_not_found, fee.not_refund_due, fee.channel_unavailable,
    # fee.refund_unavailable
    responses=problems(404, 409, 422, 503),
)
async def refund_payment(payment_id: uuid.UUID, request: Request, caller: CallerDep) -> PaymentOut:
    """Gives an online payment owed back (待退款) its money back through the provider: an admin
    over its bill's branch asks, when the provider did not answer at the callback. Asked again,
    or by two at once, the money goes back once and the answer is the same (the payment's id is
    the refund's number at the provider), so no `Idempotency-Key` is needed."""
    provider = app_resource(request, "provider", PaymentProvider)
    if provider is None:
        raise Problem(
            422,
            "fee.channel_unavailable",
            "No payment provider is connected in this installation; nothing can be given back "
            "through it.",
        )
    try:
        payment = await refunds.give_back(_sessions_of(request), provider, caller, payment_id)
    except ProviderUnavailable as exc:
        raise Problem(
            503,
            "fee.refund_unavailable",
            "The payment provider did not answer; nothing was given back yet. Try again.",
            headers={"Retry-After": "30"},
        ) from exc
    return PaymentOut.model_validate(payment, from_attributes=True)


class RefundOut(BaseModel):
    payment_id: uuid.UUID
    bill_id: uuid.UUID
    member_id: uuid.UUID
    member_name: str | None
    branch_id: uuid.UUID
    branch_name: str
    month: str
    amount_fen: int
    reason: RefundReason = Field(
        description="already_paid: the bill was paid another way meanwhile; amount_changed: it "
        "was repriced after the payment began; bill_void: it was taken away (its member left)"
    )
    status: Literal["refund_due", "refunded"]
    created_at: datetime = Field(description="when the member began the payment")
    refunded_at: datetime | None


class RefundPage(BaseModel):
    items: list[RefundOut]
    next_cursor: str | None


@router.get(
    "/orgs/{org_id}/refunds",
    response_model=RefundPage,
    openapi_extra=route_policy(org_param="org_id"),
)
async def list_refunds(
    org_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    status: Literal["refund_due", "refunded"] = "refund_due",
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> RefundPage:
    """Online payments of the subtree that paid nothing and are owed back to their members
    (待退款), or were given back (已退款), newest first."""
    after = read_cursor(
        cursor, lambda p: (datetime.fromisoformat(str(p["at"])), uuid.UUID(str(p["id"])))
    )
    await replica_node_in_scope(session, caller, org_id)
    found, next_cursor = page_of(
        await refunds.refunds_of(session, org_id, status, after, limit + 1),
        limit,
        lambda r: {"at": r.created_at.isoformat(), "id": str(r.payment_id)},
    )
    return RefundPage(
        items=[RefundOut.model_validate({**vars(r), "month": label(r.month)}) for r in found],
        next_cursor=next_cursor,
    )


class BillRefundOut(BaseModel):
    amount_fen: int
    status: Literal["refund_due", "refunded"] = Field(
        description="refund_due: going back to the member; refunded: given back"
    )


class MemberBillOut(BaseModel):
    id: uuid.UUID
    month: str
    amount_fen: int
    status: Literal["due", "paid"]
    paid_at: datetime | None
    channel: Literal["cash", "online"] | None
    refunds: list[BillRefundOut] = Field(
        default_factory=list,
        description="online payments of this bill that paid nothing (it was paid another way "
        "meanwhile, or repriced): their money goes back to the member",
    )


class MemberBillPage(BaseModel):
    items: list[MemberBillOut]
    next_cursor: str | None


@router.get(
    "/members/{member_id}/bills",
    response_model=MemberBillPage,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def member_bills(
    member_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> MemberBillPage:
    """The member's bills, newest month first: the member themselves or an admin over the
    branch."""
    before = read_cursor(cursor, lambda p: month_of(str(p["month"])))
    await profiles.visible_member(session, caller, member_id)
    found, next_cursor = page_of(
        await payments.member_bills(session, member_id, before, limit + 1),
        limit,
        lambda b: {"month": b.month},
    )
    return MemberBillPage(
        items=[MemberBillOut.model_validate(b, from_attributes=True) for b in found],
        next_cursor=next_cursor,
    )


class RemittanceIn(BaseModel):
    month: str = Field(examples=["2026-12"], description="YYYY-MM")


class RemittanceOut(BaseModel):
    id: uuid.UUID
    from_org_id: uuid.UUID
    to_org_id: uuid.UUID | None = Field(description="None: passed on outside the province")
    month: str
    held_fen: int = Field(description="what the sender held of the month: retained + amount")
    retained_fen: int
    amount_fen: int
    status: Literal["sent", "received", "passed_on"]
    due_by: date
    trace_id: str | None
    from_org_name: str | None = Field(default=None, description="the sender's name")
    to_org_name: str | None = Field(
        default=None, description="the receiver's name (an admin may not read its parent)"
    )
    due_working_days: int | None = Field(
        default=None,
        description="the working days `due_by` counts: 5 for a branch, 10 above (5个工作日内)",
    )

    @classmethod
    def of(cls, r: remittances.Remittance, ends: dict[uuid.UUID, remittances.End]) -> RemittanceOut:
        sender = ends.get(r.from_org_id)
        receiver = ends.get(r.to_org_id) if r.to_org_id else None
        return cls(
            id=r.id,
            from_org_id=r.from_org_id,
            to_org_id=r.to_org_id,
            from_org_name=sender.name if sender else None,
            to_org_name=receiver.name if receiver else None,
            due_working_days=remittances.due_working_days(sender.org_type) if sender else None,
            month=label(r.month),
            held_fen=r.held_fen,
            retained_fen=r.retained_fen,
            amount_fen=r.amount_fen,
            status=r.status,  # type: ignore[arg-type]
            due_by=r.due_by,
            trace_id=r.trace_id,
        )


@router.post(
    "/orgs/{org_id}/remittances",
    status_code=201,
    response_model=RemittanceOut,
    openapi_extra=route_policy(org_param="org_id"),
    responses=problems(409),  # fee.nothing_to_remit, fee.unreceived_child_remittance
)
async def remit(
    org_id: uuid.UUID,
    body: RemittanceIn,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Everything the organisation holds of the month and has not remitted (paid bills for a
    branch, received remittances above), less the share it keeps, goes to its parent."""
    month = month_of(body.month)
    try:
        check_not_too_far(month, beijing_today())  # no bill of it can have been paid
    except FeeRuleError as refused:
        raise refused_by_rules(refused, "month") from None

    async def send() -> dict[str, Any]:
        done = await remittances.remit(
            session,
            caller,
            app_resource(request, "rules", FeeRules),
            app_resource(request, "calendar", WorkingDayCalendar),
            org_id,
            month,
        )
        ends = await remittances.org_ends(session, [done])
        return RemittanceOut.of(done, ends).model_dump(mode="json")

    fingerprint = request_hash("remit", str(org_id), label(month))
    async with session.begin():
        answer = await answered_once(
            session, caller.account_id, idempotency_key, fingerprint, 201, send
        )
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.post(
    "/remittances/{remittance_id}/receipt",
    response_model=RemittanceOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # fee.already_received
)
async def confirm_receipt(
    remittance_id: uuid.UUID,
    session: SessionDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def receive() -> dict[str, Any]:
        received = await remittances.receive(session, caller, remittance_id)
        ends = await remittances.org_ends(session, [received])
        return RemittanceOut.of(received, ends).model_dump(mode="json")

    fingerprint = request_hash("receipt", str(remittance_id))
    async with session.begin():
        answer = await answered_once(
            session, caller.account_id, idempotency_key, fingerprint, 200, receive
        )
    return JSONResponse(answer.body, status_code=answer.status_code)


class RemittancePage(BaseModel):
    items: list[RemittanceOut]
    next_cursor: str | None


@router.get(
    "/orgs/{org_id}/remittances",
    response_model=RemittancePage,
    openapi_extra=route_policy(org_param="org_id"),
)
async def list_remittances(
    org_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    direction: Literal["in", "out"] = "out",
    month: str | None = None,
    overdue: bool = Query(False, description="only those sent after their due date"),
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> RemittancePage:
    """What the organisation sent up (`out`) or received from below (`in`), newest first."""
    when = month_of(month) if month else None
    after = read_cursor(cursor, lambda p: (str(p["sent_at"]), uuid.UUID(str(p["id"]))))
    await replica_node_in_scope(session, caller, org_id)
    found, next_cursor = page_of(
        await remittances.remittances_of(
            session,
            org_id,
            incoming=direction == "in",
            month=when,
            late_only=overdue,
            after=after,
            limit=limit + 1,
        ),
        limit,
        lambda r: {"sent_at": r.sent_at.isoformat(), "id": str(r.id)},
    )
    ends = await remittances.org_ends(session, found)
    return RemittancePage(items=[RemittanceOut.of(r, ends) for r in found], next_cursor=next_cursor)


class CarriedOut(BaseModel):
    kind: Literal["bill", "remittance"]
    id: uuid.UUID
    org_id: uuid.UUID = Field(description="the bill's branch, or the child remittance's sender")
    amount_fen: int


class RemittanceDetail(RemittanceOut):
    includes: list[CarriedOut] = Field(description="the paid bills or child remittances it carries")


@router.get(
    "/remittances/{remittance_id}",
    response_model=RemittanceDetail,
    openapi_extra=route_policy(),
)
async def read_remittance(
    remittance_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep
) -> RemittanceDetail:
    """For an admin over either end; `trace_id` leads to it in the tracing dashboard."""
    found, carried = await remittances.remittance_with_includes(session, caller, remittance_id)
    return RemittanceDetail(
        **RemittanceOut.of(found, await remittances.org_ends(session, [found])).model_dump(),
        includes=[CarriedOut.model_validate(c, from_attributes=True) for c in carried],
    )


class UsageIn(BaseModel):
    amount_fen: StrictInt = Field(gt=0, le=10**12)  # money: a number, never a string or true
    purpose: NonBlank = Field(max_length=500)
    decided_on: Day = Field(description="the day of the collective decision (集体研究决定)")
    decision_ref: NonBlank = Field(max_length=200, description="e.g. the meeting minutes' number")
    document_id: uuid.UUID | None = Field(default=None, description="an uploaded document")


class UsageOut(BaseModel):
    id: uuid.UUID
    org_id: uuid.UUID
    amount_fen: int
    purpose: str
    decided_on: date
    decision_ref: str
    document_id: uuid.UUID | None
    created_at: datetime


class UsagePage(BaseModel):
    items: list[UsageOut]
    next_cursor: str | None


@router.post(
    "/orgs/{org_id}/fee-usages",
    status_code=201,
    response_model=UsageOut,
    openapi_extra=route_policy(org_param="org_id"),
    responses=problems(409),  # fee.insufficient_balance
)
async def record_usage(
    org_id: uuid.UUID,
    body: UsageIn,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A use of the organisation's retained dues, never more than it has kept."""
    if body.decided_on > beijing_today():
        raise Problem(
            422,
            "fee.decided_in_future",
            "A decision cannot be dated in the future.",
            errors=[{"field": "decided_on", "message": "must not be in the future"}],
        )
    if body.document_id is not None:
        settings = app_settings(request, FeesSettings)
        found = await uploaded_types(
            settings.org_url, settings.platform.internal_secret, [body.document_id]
        )
        if body.document_id not in found:
            raise Problem(
                422,
                "fee.document_not_found",
                "No uploaded document has this id; upload the minutes first (POST /documents).",
                errors=[{"field": "document_id", "message": "no such document"}],
            )

    async def spend() -> dict[str, Any]:
        done = await usages.record_usage(
            session,
            caller,
            org_id,
            usages.NewUsage(
                body.amount_fen, body.purpose, body.decided_on, body.decision_ref, body.document_id
            ),
        )
        return UsageOut.model_validate(done, from_attributes=True).model_dump(mode="json")

    fingerprint = request_hash("fee-usage", str(org_id), body.model_dump_json())
    async with session.begin():
        answer = await answered_once(
            session, caller.account_id, idempotency_key, fingerprint, 201, spend
        )
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get(
    "/orgs/{org_id}/fee-usages",
    response_model=UsagePage,
    openapi_extra=route_policy(org_param="org_id", allow="admin_or_member"),
)
async def list_usages(
    org_id: uuid.UUID,
    session: ReadSessionDep,
    caller: CallerDep,
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> UsagePage:
    """The public record of the organisation's uses of dues (使用公示), newest first."""
    after = read_cursor(cursor, lambda p: (str(p["at"]), uuid.UUID(str(p["id"]))))
    found, next_cursor = page_of(
        await usages.usages_of(session, caller, org_id, after, limit + 1),
        limit,
        lambda u: {"at": u.created_at.isoformat(), "id": str(u.id)},
    )
    return UsagePage(
        items=[UsageOut.model_validate(u, from_attributes=True) for u in found],
        next_cursor=next_cursor,
    )


class ChildCollectionOut(BaseModel):
    org_id: uuid.UUID
    name: str
    due_fen: int
    paid_fen: int
    collection_rate: float = Field(description="paid / due over the child's subtree")


class FeeSummaryOut(BaseModel):
    org_id: uuid.UUID
    month: str
    due_fen: int
    paid_fen: int
    collection_rate: float = Field(description="paid / due (团费收缴率), 0 when nothing was due")
    remitted_fen: int = Field(description="what the organisation itself sent up")
    received_fen: int = Field(description="what it confirmed as received from below")
    retained_fen: int = Field(description="what its whole subtree kept")
    overdue_remittances: int = Field(description="remittances of the subtree sent late")
    overdue_holdings: int = Field(
        description="organisations of the subtree holding the month's money past its due date"
    )
    children: list[ChildCollectionOut] = Field(
        description="each direct child's dues of the month, by name"
    )


@router.get(
    "/orgs/{org_id}/fee-summary",
    response_model=FeeSummaryOut,
    openapi_extra=route_policy(org_param="org_id"),
)
async def fee_summary(
    org_id: uuid.UUID, month: str, request: Request, session: ReadSessionDep, caller: CallerDep
) -> FeeSummaryOut:
    """The month's dues over the organisation's whole subtree."""
    when = month_of(month)
    node = await replica_node_in_scope(session, caller, org_id)
    found = await remittances.summary(session, org_id, when)
    children = await remittances.collection_by_child(session, node, when)
    overdue = await holdings.count_overdue_holdings(
        session,
        app_resource(request, "calendar", WorkingDayCalendar),
        org_id,
        today=beijing_today(),
        month=when,
    )
    return FeeSummaryOut(
        org_id=org_id,
        month=label(when),
        due_fen=found.due_fen,
        paid_fen=found.paid_fen,
        collection_rate=found.collection_rate,
        remitted_fen=found.remitted_fen,
        received_fen=found.received_fen,
        retained_fen=found.retained_fen,
        overdue_remittances=found.overdue_remittances,
        overdue_holdings=overdue,
        children=[
            ChildCollectionOut(
                org_id=c.org_id,
                name=c.name,
                due_fen=c.due_fen,
                paid_fen=c.paid_fen,
                collection_rate=c.collection_rate,
            )
            for c in children
        ],
    )


def _yuan(fen: int | None) -> str:
    return "" if fen is None else f"{fen / 100:.2f}"


FEE_SUMMARY_SHEET = (
    Figure("应交（元）", "due_fen", show=_yuan),
    Figure("已交（元）", "paid_fen", show=_yuan),
    Figure("收缴率", "collection_rate", show=percent),
    Figure("上缴（元）", "remitted_fen", show=_yuan),
    Figure("确认收到（元）", "received_fen", show=_yuan),
    Figure("留存（元）", "retained_fen", show=_yuan),
    Figure("逾期上缴笔数", "overdue_remittances"),
    Figure("逾期未上缴组织数", "overdue_holdings"),
)


@router.get(
    "/orgs/{org_id}/fee-summary/export",
    openapi_extra=route_policy(org_param="org_id"),
    responses=xlsx_answer("团费收缴统计.xlsx"),
)
async def export_fee_summary(
    org_id: uuid.UUID, month: str, request: Request, session: ReadSessionDep, caller: CallerDep
) -> Response:
    """The month's fee summary as .xlsx: the subtree's row, then each direct child's due, paid
    and collection rate (the figures of the organisation itself stay on its own row)."""
    shown = await fee_summary(org_id, month, request, session, caller)
    names = {str(c.org_id): c.name for c in shown.children}
    return await report_export(
        request,
        caller,
        "fee_summary",
        f"{shown.month}团费收缴统计",
        shown.model_dump(mode="json"),
        FEE_SUMMARY_SHEET,
        names,
    )


class OverdueHoldingOut(BaseModel):
    org_id: uuid.UUID
    org_name: str
    org_type: str
    month: str
    held_fen: int = Field(description="paid bills (branch) or received remittances not sent up")
    since: datetime = Field(description="when the first of that money arrived")
    due_by: date = Field(description="when it should have been remitted at the latest")


class OverdueHoldingPage(BaseModel):
    items: list[OverdueHoldingOut]
    next_cursor: str | None


@router.get(
    "/orgs/{org_id}/overdue-holdings",
    response_model=OverdueHoldingPage,
    openapi_extra=route_policy(org_param="org_id"),
)
async def list_overdue_holdings(
    org_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    caller: CallerDep,
    month: str | None = None,
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> OverdueHoldingPage:
    """Organisations of the subtree (itself included) holding dues they should have remitted by
    now (5 working days for a branch, 10 above), longest held first."""
    when = month_of(month) if month else None
    after = read_cursor(
        cursor,
        lambda p: (
            datetime.fromisoformat(str(p["since"])),
            uuid.UUID(str(p["org"])),
            parse_month(str(p["month"])),
        ),
    )
    await replica_node_in_scope(session, caller, org_id)
    found, next_cursor = page_of(
        await holdings.overdue_holdings(
            session,
            app_resource(request, "calendar", WorkingDayCalendar),
            org_id,
            today=beijing_today(),
            month=when,
            after=after,
            limit=limit + 1,
        ),
        limit,
        lambda h: {"since": h.since.isoformat(), "org": str(h.org_id), "month": label(h.month)},
    )
    return OverdueHoldingPage(
        items=[
            OverdueHoldingOut(
                org_id=h.org_id,
                org_name=h.org_name,
                org_type=h.org_type,
                month=label(h.month),
                held_fen=h.held_fen,
                since=h.since,
                due_by=h.due_by,
            )
            for h in found
        ],
        next_cursor=next_cursor,
    )


class CategoryCountsOut(BaseModel):
    org_id: uuid.UUID
    total: int
    by_category: dict[str, int] = Field(description="student, salaried, ...; missing: no profile")


class MemberCategoriesOut(CategoryCountsOut):
    children: list[CategoryCountsOut]


@router.get(
    "/orgs/{org_id}/member-categories",
    response_model=MemberCategoriesOut,
    openapi_extra=route_policy(org_param="org_id"),
)
async def member_categories(
    org_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep
) -> MemberCategoriesOut:
    """Active members of the subtree by dues category, with each direct child's (统计报表)."""
    node = await replica_node_in_scope(session, caller, org_id)
    total, children = await profiles.categories(session, node)
    return MemberCategoriesOut(
        **CategoryCountsOut.model_validate(total, from_attributes=True).model_dump(),
        children=[CategoryCountsOut.model_validate(c, from_attributes=True) for c in children],
    )


CATEGORY_NAMES = {
    "salaried": "按收入缴纳",
    "student": "学生团员",
    "unemployed": "无固定收入",
    "relief": "享受低保",
    "missing": "未填写缴费信息",
}
CATEGORIES_SHEET = (
    Figure("团员总数", "total"),
    Figure("缴费类别", "by_category", labels=CATEGORY_NAMES),
)


@router.get(
    "/orgs/{org_id}/member-categories/export",
    openapi_extra=route_policy(org_param="org_id"),
    responses=xlsx_answer("团员缴费类别统计.xlsx"),
)
async def export_member_categories(
    org_id: uuid.UUID, request: Request, session: ReadSessionDep, caller: CallerDep
) -> Response:
    """Members by dues category as .xlsx: the subtree's row (合计), then each direct child's."""
    shown = await member_categories(org_id, session, caller)
    return await report_export(
        request,
        caller,
        "member_categories",
        "团员缴费类别统计",
        shown.model_dump(mode="json"),
        CATEGORIES_SHEET,
    )


# --- internal: for other services, never routed by the gateway -------------------------------

internal = APIRouter(prefix="/internal", include_in_schema=False)
add_assessment_route(
    internal,
    "dues-collection",
    remittances.collection_share,
    "Bills of the year's months paid over bills issued (团费收缴率)",
)
add_assessment_route(
    internal,
    "remittance-timeliness",
    remittances.remittance_share,
    "Remittances of the year's months sent by their due date over those sent (按时上缴率)",
)
