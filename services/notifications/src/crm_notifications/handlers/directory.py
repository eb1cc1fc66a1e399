"""Who is where, from identity's events: accounts, instances, members and their details."""

from __future__ import annotations

from crm_contracts.identity import (
    AccountCreated,
    InstanceCreated,
    InstanceMemberJoined,
    InstanceRenamed,
    InstanceMemberRemoved,
    MemberAdded,
    MemberDetailsChanged,
    MemberStatusChanged,
)
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository

handlers = Handlers()


handlers = Handlers()


# --- who is where (identity's events) ----------------------------------------------------------


@handlers.on(AccountCreated)
async def account_created(ctx: HandlerContext, event: AccountCreated) -> None:
    await repository.accounts.record_account(ctx.conn, event)


@handlers.on(InstanceCreated)
async def instance_created(ctx: HandlerContext, event: InstanceCreated) -> None:
    await repository.accounts.upsert_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.name)
    await repository.accounts.add_instance_member(ctx.conn, event.instance_id, event.owner_user_id)


@handlers.on(InstanceRenamed)
async def instance_renamed(ctx: HandlerContext, event: InstanceRenamed) -> None:
    """Later e-mails and pushes name the instance as its owner calls it now."""
    await repository.accounts.upsert_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.name)


@handlers.on(InstanceMemberJoined)
async def member_joined(ctx: HandlerContext, event: InstanceMemberJoined) -> None:
    await repository.accounts.add_instance_member(ctx.conn, event.instance_id, event.user_id)


@handlers.on(InstanceMemberRemoved)
async def member_removed(ctx: HandlerContext, event: InstanceMemberRemoved) -> None:
    await repository.accounts.remove_instance_member(ctx.conn, event.instance_id, event.user_id)


@handlers.on(MemberAdded)
async def member_added(ctx: HandlerContext, event: MemberAdded) -> None:
    if ctx.message.instanceid:
        await repository.accounts.add_instance_member(ctx.conn, ctx.message.instanceid, event.user_id)
    await repository.accounts.record_member(ctx.conn, ctx.message.accountid, event.user_id, event.email, event.first_name,
                                   event.administers_account, event.status.value)


@handlers.on(MemberDetailsChanged)
async def member_details_changed(ctx: HandlerContext, event: MemberDetailsChanged) -> None:
    await repository.accounts.set_member_details(ctx.conn, ctx.message.accountid, event.user_id, event.email, event.first_name,
                                        event.administers_account)


@handlers.on(MemberStatusChanged)
async def member_status_changed(ctx: HandlerContext, event: MemberStatusChanged) -> None:
    await repository.accounts.set_member_status(ctx.conn, ctx.message.accountid, event.user_id, event.to_status.value)
