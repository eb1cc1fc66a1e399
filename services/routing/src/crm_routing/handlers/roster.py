"""The roster, from identity's events: accounts, members, instances, their members and API keys."""

from __future__ import annotations


from crm_contracts.identity import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyRevoked,
    InstanceCancelled,
    InstanceCreated,
    InstanceMemberJoined,
    InstanceMemberRemoved,
    InstanceMemberRoleChanged,
    InstanceOwnershipTransferred,
    InstanceRenamed,
    MemberAdded,
    MemberDetailsChanged,
    MemberStatusChanged,
)
from crm_contracts.organisation import DEFAULT_SOURCES, DEFAULT_STAGES
from crm_contracts.routing import ZillowTargetChanged
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository
from ..domain import rules as rulebook
from ..domain.router import rotation_keys

handlers = Handlers()


@handlers.on(AccountCreated)
async def account_created(ctx: HandlerContext, event: AccountCreated) -> None:
    await repository.roster.upsert_instance(ctx.conn, instance_id=event.enterprise_instance_id, account_id=event.account_id,
                                     kind="enterprise", package=None, routing=True, owner_user_id=event.owner_user_id,
                                     name=event.name, website_id=event.website_id,
                                     parsing_email=event.parsing_email)
    await repository.roster.set_member(ctx.conn, event.enterprise_instance_id, event.owner_user_id, "owner",
                                event.owner_capture_email)
    await repository.roster.set_status(ctx.conn, event.account_id, event.owner_user_id, "active")
    await _seed(ctx, event.enterprise_instance_id)


async def _seed(ctx: HandlerContext, instance_id: str) -> None:
    """A new instance routes by the default rule and organises leads by the default pipeline and sources."""
    await repository.leads.seed_rotation(ctx.conn, instance_id, rotation_keys(rulebook.parse([], 0)))
    await repository.organisation.seed_organisation(ctx.conn, instance_id, list(DEFAULT_STAGES), list(DEFAULT_SOURCES))


@handlers.on(MemberAdded)
async def member_added(ctx: HandlerContext, event: MemberAdded) -> None:
    await repository.roster.set_status(ctx.conn, ctx.message.accountid, event.user_id, event.status.value,
                                event.administers_account)
    if ctx.message.instanceid:
        await repository.roster.set_member(ctx.conn, ctx.message.instanceid, event.user_id, "agent", event.capture_email)


@handlers.on(MemberDetailsChanged)
async def member_details_changed(ctx: HandlerContext, event: MemberDetailsChanged) -> None:
    await repository.roster.set_administers(ctx.conn, ctx.message.accountid, event.user_id, event.administers_account)


@handlers.on(MemberStatusChanged)
async def member_status_changed(ctx: HandlerContext, event: MemberStatusChanged) -> None:
    await repository.roster.set_status(ctx.conn, ctx.message.accountid, event.user_id, event.to_status.value)


@handlers.on(InstanceCreated)
async def instance_created(ctx: HandlerContext, event: InstanceCreated) -> None:
    routes = event.routing if event.routing is not None else event.package != "crm_idx_solo"
    await repository.roster.upsert_instance(ctx.conn, instance_id=event.instance_id, account_id=ctx.message.accountid,
                                     kind=event.kind, package=event.package, routing=routes,
                                     owner_user_id=event.owner_user_id, name=event.name,
                                     website_id=event.website_id, parsing_email=event.parsing_email)
    await _seed(ctx, event.instance_id)


@handlers.on(InstanceRenamed)
async def instance_renamed(ctx: HandlerContext, event: InstanceRenamed) -> None:
    await repository.roster.rename_instance(ctx.conn, event.instance_id, event.name)


@handlers.on(InstanceMemberJoined)
async def instance_member_joined(ctx: HandlerContext, event: InstanceMemberJoined) -> None:
    await repository.roster.set_member(ctx.conn, event.instance_id, event.user_id, event.role, event.capture_email)


@handlers.on(InstanceMemberRoleChanged)
async def instance_member_role_changed(ctx: HandlerContext, event: InstanceMemberRoleChanged) -> None:
    await repository.roster.set_member(ctx.conn, event.instance_id, event.user_id, event.role)


@handlers.on(InstanceMemberRemoved)
async def instance_member_removed(ctx: HandlerContext, event: InstanceMemberRemoved) -> None:
    fallback = await repository.roster.remove_member(ctx.conn, event.instance_id, event.user_id)
    if fallback is not None:
        await ctx.emit(ZillowTargetChanged(user_id=event.user_id, instance_id=fallback, reason="left_instance",
                                           from_instance_id=event.instance_id),
                       instanceid=fallback, subject=event.user_id)


@handlers.on(ApiKeyIssued)
async def api_key_issued(ctx: HandlerContext, event: ApiKeyIssued) -> None:
    await repository.roster.set_api_key(ctx.conn, event.key_hash, event.instance_id, event.key_id, revoked=False)


@handlers.on(ApiKeyRevoked)
async def api_key_revoked(ctx: HandlerContext, event: ApiKeyRevoked) -> None:
    await repository.roster.set_api_key(ctx.conn, event.key_hash, event.instance_id, event.key_id, revoked=True)


@handlers.on(InstanceOwnershipTransferred)
async def ownership_transferred(ctx: HandlerContext, event: InstanceOwnershipTransferred) -> None:
    await repository.roster.set_owner(ctx.conn, event.instance_id, event.to_user_id)


@handlers.on(InstanceCancelled)
async def instance_cancelled(ctx: HandlerContext, event: InstanceCancelled) -> None:
    """Nothing new lands in it and no timer moves its leads on; they stay readable until then."""
    await repository.roster.close_instance(ctx.conn, event.instance_id, event.read_only_until)
