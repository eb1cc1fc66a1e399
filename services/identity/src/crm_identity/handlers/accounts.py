"""Accounts, their opt-in setting and hierarchy groups."""

from __future__ import annotations

from crm_contracts.identity import AccountCreated, CreateAccount, CreateGroup, GroupCreated, OptInChanged, SetOptIn, Tier
from crm_runtime.handlers import HandlerContext, Handlers, Rejected

from .. import repository
from ..domain.accounts import Account, open_account
from ..domain.instances import addresses
from .common import check_group, load_account, load_instance
from .gate import system

handlers = Handlers()


def _account_created(account: Account) -> AccountCreated:
    return AccountCreated(account_id=account.account_id, tier=account.tier,
                          enterprise_instance_id=account.enterprise_instance_id,
                          owner_user_id=account.owner_user_id, name=account.name,
                          owner_email=account.owner_email, owner_first_name=account.owner_first_name,
                          website_id=account.website_id, parsing_email=account.parsing_email,
                          owner_capture_email=addresses(account.owner_user_id, account.enterprise_instance_id)[1])


@handlers.on(CreateAccount)
async def create_account(ctx: HandlerContext, cmd: CreateAccount) -> None:
    system(ctx)
    if cmd.account_id != ctx.message.accountid:
        raise Rejected("account_id_mismatch",
                       f"data.account_id {cmd.account_id!r} differs from accountid {ctx.message.accountid!r}")
    account = open_account(cmd)
    if await repository.accounts.insert_account(ctx.conn, account):
        await ctx.emit(_account_created(account), subject=account.account_id)
        return
    existing = await repository.accounts.get_account(ctx.conn, cmd.account_id)
    assert existing is not None
    if not existing.same_request(cmd):
        raise Rejected("account_already_exists", f"account {cmd.account_id} already exists with other data")
    # A retry with a new command id: answer it again, change nothing.
    await ctx.emit(_account_created(existing), subject=existing.account_id)


@handlers.on(SetOptIn)
async def set_opt_in(ctx: HandlerContext, cmd: SetOptIn) -> None:
    system(ctx)
    account = await load_account(ctx)
    if cmd.enabled and account.tier is not Tier.ENTERPRISE:
        raise Rejected("opt_in_requires_enterprise", "agent opt-in can be enabled only on Enterprise accounts")
    await repository.accounts.set_opt_in(ctx.conn, account.account_id, cmd.enabled)
    await ctx.emit(OptInChanged(account_id=account.account_id, enabled=cmd.enabled))


@handlers.on(CreateGroup)
async def create_group(ctx: HandlerContext, cmd: CreateGroup) -> None:
    system(ctx)
    account = await load_account(ctx)
    if account.tier is not Tier.ENTERPRISE:
        raise Rejected("groups_require_enterprise", "hierarchy groups exist only on Enterprise accounts")
    if ctx.message.instanceid not in (None, account.enterprise_instance_id):
        await load_instance(ctx, ctx.message.instanceid)  # unknown_instance, if so
        raise Rejected("groups_not_allowed_on_private_instance",
                       "a private instance is a Team account: it has no hierarchy groups")
    existing = await repository.accounts.get_group(ctx.conn, account.account_id, cmd.group_id)
    if existing is not None:
        if (existing["name"], existing["parent_group_id"]) != (cmd.name, cmd.parent_group_id):
            raise Rejected("group_already_exists", f"group {cmd.group_id} already exists with other data")
    else:
        await check_group(ctx, cmd.parent_group_id)
        await repository.accounts.insert_group(ctx.conn, account.account_id, cmd.group_id, cmd.name, cmd.parent_group_id)
    await ctx.emit(GroupCreated(group_id=cmd.group_id, name=cmd.name, parent_group_id=cmd.parent_group_id))
