"""HTTP routes of the identity service: parse, authorize, call a use case, shape the answer."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from identity import service
from identity.db import Account
from identity.settings import IdentitySettings
from identity.tokens import issue_token
from shared.assessment_routes import add_assessment_route
from shared.audit import audit
from shared.contract import problems
from shared.http import (
    CallerDep,
    LimitQuery,
    NonBlank,
    Page,
    ReadSessionDep,
    SessionDep,
    app_resource,
    app_settings,
    page_of,
    read_cursor,
    route_policy,
)
from shared.orgtree import known_replica_node, require_admin_over
from shared.problems import Problem

router = APIRouter()
internal = APIRouter(prefix="/internal", include_in_schema=False)

Phone = Annotated[str, Field(pattern=r"^[0-9+\- ]{7,20}$")]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class AccountOut(BaseModel):
    id: uuid.UUID
    username: str
    role: Literal["admin", "member"]
    org_id: uuid.UUID
    org_name: str | None = None
    member_id: uuid.UUID | None
    status: Literal["active", "pending_activation", "frozen", "disabled"]

    @classmethod
    def of(cls, a: Account, org_name: str | None = None) -> AccountOut:
        # A disabled account is frozen too (the gateway stops its tokens); it says the former.
        status = "frozen" if a.frozen and a.status != "disabled" else a.status
        return cls(
            id=a.id,
            username=a.username,
            role=a.role,
            org_id=a.org_id,  # type: ignore[arg-type]
            org_name=org_name,
            member_id=a.member_id,
            status=status,
        )  # type: ignore[arg-type]


class LoginOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    must_change_password: bool
    account: AccountOut


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class ActivateIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    activation_code: str = Field(min_length=4, max_length=64)
    new_password: str = Field(min_length=1, max_length=256)


class FreezeIn(BaseModel):
    reason: NonBlank = Field(min_length=1, max_length=500)


class CodeOut(BaseModel):
    code: str
    expires_at: datetime


class FindingOut(BaseModel):
    account_id: uuid.UUID
    username: str
    org_id: uuid.UUID
    org_name: str
    findings: list[str]


class SecurityCheckOut(BaseModel):
    org_id: uuid.UUID
    items: list[FindingOut]
    next_cursor: str | None = None
    counts: dict[str, int]


class ApplicationIn(BaseModel):
    responsible_name: NonBlank = Field(min_length=1, max_length=50)
    responsible_phone: Phone
    requested_username: str = Field(min_length=1, max_length=64)
    form_document_id: uuid.UUID


class ApplicationOut(BaseModel):
    id: uuid.UUID
    org_id: uuid.UUID
    status: Literal["pending", "approved", "rejected"]
    requested_username: str
    reject_reason: str | None = None


class ApprovedOut(BaseModel):
    account_id: uuid.UUID
    username: str
    initial_password: str


class RejectIn(BaseModel):
    reason: NonBlank = Field(min_length=1, max_length=1000)


@router.post(
    "/auth/login",
    response_model=LoginOut,
    openapi_extra=route_policy(public=True),
    # Public, so 401 and 403 are not derived: wrong credentials, a frozen account, a lockout.
    responses=problems(401, 403, 423),
)
async def login(body: LoginIn, request: Request, session: SessionDep) -> LoginOut:
    settings = app_settings(request, IdentitySettings)
    try:
        account = await service.login(session, body.username, body.password)
    except Problem:
        # Committed although refused: a failed attempt must count towards the lockout. (Not on
        # any other error: a lost connection has nothing to commit and answers 503.)
        await session.commit()
        raise
    await session.commit()
    token = issue_token(
        app_resource(request, "signing_key", Ed25519PrivateKey),
        account,
        timedelta(seconds=settings.token_ttl_seconds),
    )
    node = await service.org_of(session, account.org_id)
    return LoginOut(
        access_token=token,
        expires_in=settings.token_ttl_seconds,
        must_change_password=account.must_change_password,
        account=AccountOut.of(account, node.name if node else None),
    )


@router.post(
    "/auth/password",
    status_code=204,
    openapi_extra=route_policy(any_status=True),
    responses=problems(404),  # the caller's account is gone
)
async def change_password(body: PasswordIn, session: SessionDep, caller: CallerDep) -> Response:
    async with session.begin():
        await service.change_password(session, caller, body.current_password, body.new_password)
    return Response(status_code=204)


@router.post(
    "/auth/activate",
    status_code=204,
    openapi_extra=route_policy(public=True),
    responses=problems(423),  # a wrong code counts towards the lockout, as a wrong password does
)
async def activate(body: ActivateIn, request: Request, session: SessionDep) -> Response:
    try:
        await service.activate(
            session,
            body.username,
            body.activation_code,
            body.new_password,
            app_settings(request, IdentitySettings).platform.internal_secret,
        )
    except Problem:
        await session.commit()  # keep the failed attempt on record (brute-force lockout)
        raise
    await session.commit()
    return Response(status_code=204)


class MeOut(AccountOut):
    unread_notifications: int | None = Field(
        default=None,
        description="unread notifications in your inbox (the activities service's), added by "
        "the gateway; none when the inbox cannot be read at the moment",
    )


@router.get(
    "/me",
    response_model=MeOut,
    openapi_extra=route_policy(any_status=True),
    responses=problems(404),  # the caller's account is gone
)
async def me(session: SessionDep, caller: CallerDep) -> MeOut:
    if caller.account_id is None:
        raise service.account_not_found()
    account = await session.get(Account, caller.account_id)
    if account is None:
        raise service.account_not_found()
    node = await service.org_of(session, account.org_id)
    return MeOut(**AccountOut.of(account, node.name if node else None).model_dump())


@router.get(
    "/members/{member_id}/account",
    response_model=AccountOut,
    openapi_extra=route_policy(allow="admin_or_member"),
)
async def member_account(
    member_id: uuid.UUID, session: ReadSessionDep, caller: CallerDep
) -> AccountOut:
    """The member's account (username, status): the member, or an admin over the branch, who
    then freezes it or issues a one-time code for a forgotten password by its `id`."""
    return AccountOut.of(await service.member_account(session, caller, member_id))


@router.post(
    "/accounts/{account_id}/freeze", status_code=204, openapi_extra=route_policy(any_status=True)
)
async def freeze(
    account_id: uuid.UUID, body: FreezeIn, session: SessionDep, caller: CallerDep
) -> Response:
    async with session.begin():
        await service.freeze(session, caller, account_id, body.reason)
    return Response(status_code=204)


@router.post(
    "/accounts/{account_id}/unfreeze",
    status_code=204,
    openapi_extra=route_policy(),
    responses=problems(409),  # account.disabled
)
async def unfreeze(account_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Response:
    async with session.begin():
        await service.unfreeze(session, caller, account_id)
    return Response(status_code=204)


@router.post(
    "/accounts/{account_id}/one-time-code",
    status_code=201,
    response_model=CodeOut,
    openapi_extra=route_policy(),
)
async def one_time_code(
    account_id: uuid.UUID, request: Request, session: SessionDep, caller: CallerDep
) -> CodeOut:
    settings = app_settings(request, IdentitySettings)
    async with session.begin():
        code, expires_at = await service.one_time_code(
            session,
            caller,
            account_id,
            settings.one_time_code_ttl,
            settings.platform.internal_secret,
        )
    return CodeOut(code=code, expires_at=expires_at)


@router.get(
    "/orgs/{org_id}/security-check",
    response_model=SecurityCheckOut,
    openapi_extra=route_policy(org_param="org_id"),
)
async def security_check(
    org_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    caller: CallerDep,
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> SecurityCheckOut:
    """A page of the subtree's admin accounts with findings; `counts` are the whole subtree's."""
    after = read_cursor(cursor, lambda p: str(p["u"]))
    node = await known_replica_node(session, org_id)
    require_admin_over(caller, node.path)
    max_age = timedelta(days=app_settings(request, IdentitySettings).password_max_age_days)
    page, next_cursor = page_of(
        await service.security_check(session, node, max_age, after, limit + 1),
        limit,
        lambda f: {"u": f.username},
    )
    return SecurityCheckOut(
        org_id=org_id,
        counts=await service.security_counts(session, node, max_age),
        items=[FindingOut(**f.__dict__) for f in page],
        next_cursor=next_cursor,
    )


@router.post(
    "/orgs/{org_id}/admin-applications",
    status_code=201,
    response_model=ApplicationOut,
    openapi_extra=route_policy(org_param="org_id"),
    responses=problems(409),  # org.not_active, account.username_taken
)
async def record_application(
    org_id: uuid.UUID, body: ApplicationIn, session: SessionDep, caller: CallerDep
) -> ApplicationOut:
    async with session.begin():
        a = await service.record_application(
            session,
            caller,
            org_id,
            responsible_name=body.responsible_name,
            responsible_phone=body.responsible_phone,
            requested_username=body.requested_username,
            form_document_id=body.form_document_id,
        )
    return ApplicationOut(
        id=a.id, org_id=a.org_id, status="pending", requested_username=a.requested_username
    )


@router.post(
    "/admin-applications/{application_id}/approve",
    status_code=201,
    response_model=ApprovedOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # application.already_decided, org.not_active, username taken
)
async def approve_application(
    application_id: uuid.UUID, session: SessionDep, caller: CallerDep
) -> ApprovedOut:
    async with session.begin():
        account, initial_password = await service.approve_application(
            session, caller, application_id
        )
    return ApprovedOut(
        account_id=account.id, username=account.username, initial_password=initial_password
    )


@router.post(
    "/admin-applications/{application_id}/reject",
    response_model=ApplicationOut,
    openapi_extra=route_policy(),
    responses=problems(409),  # application.already_decided
)
async def reject_application(
    application_id: uuid.UUID, body: RejectIn, session: SessionDep, caller: CallerDep
) -> ApplicationOut:
    async with session.begin():
        a = await service.reject_application(session, caller, application_id, body.reason)
    return ApplicationOut(
        id=a.id,
        org_id=a.org_id,
        status="rejected",
        requested_username=a.requested_username,
        reject_reason=a.reject_reason,
    )


class ActivationCodeOut(BaseModel):
    member_id: uuid.UUID | None
    name: str | None
    username: str
    activation_code: str | None
    expires_at: datetime | None


@router.get(
    "/orgs/{org_id}/activation-codes",
    response_model=Page[ActivationCodeOut],
    openapi_extra=route_policy(org_param="org_id"),
)
async def activation_codes(
    org_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    limit: LimitQuery = 50,
    cursor: str | None = None,
) -> Page[ActivationCodeOut]:
    """Members of the branch still pending activation, with the code to hand each of them."""
    after = read_cursor(cursor, lambda p: str(p["u"]))
    sealer = service.activation_sealer(
        app_settings(request, IdentitySettings).platform.internal_secret
    )
    async with session.begin():
        node = await known_replica_node(session, org_id)
        require_admin_over(caller, node.path)
        await audit(session, caller, "activation_codes.list", "org", org_id)
        found = await service.pending_activations(session, org_id, sealer, after, limit + 1)
    page, next_cursor = page_of(found, limit, lambda p: {"u": p.username})
    return Page(items=[ActivationCodeOut(**p.__dict__) for p in page], next_cursor=next_cursor)


@internal.get("/accounts/frozen", response_model=Page[uuid.UUID])
async def frozen_accounts(
    session: ReadSessionDep,
    caller: CallerDep,
    cursor: Annotated[
        uuid.UUID | None, Query(description="the last id of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 20_000,
) -> Page[uuid.UUID]:
    """Every frozen account, in pages by id: the snapshot the gateway starts its copy from."""
    if not caller.is_system:
        raise Problem(403, "auth.system_only", "Internal route.")
    found = await service.frozen_account_ids(session, cursor, limit)
    return Page(items=found, next_cursor=str(found[-1]) if len(found) == limit else None)


add_assessment_route(
    internal,
    "system-usage",
    service.system_usage,
    "Member accounts activated and used in the year over all member accounts (系统使用率)",
)
