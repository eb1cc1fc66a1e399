"""One function per identity command: load, decide, save, emit."""

from __future__ import annotations

from crm_contracts.identity import AccountCreated, CreateAccount
from crm_runtime.handling import HandlerContext, Handlers, Rejected

from . import repository
from .domain.accounts import Account, open_account, parsing_email

handlers = Handlers()


def _account_created(account: Account) -> AccountCreated:
    return AccountCreated(account_id=account.account_id, tier=account.tier,
                          enterprise_instance_id=account.enterprise_instance_id,
                          owner_user_id=account.owner_user_id, name=account.name,
                          owner_email=account.owner_email)


@handlers.on(CreateAccount)
async def create_account(ctx: HandlerContext, cmd: CreateAccount) -> None:
    if cmd.account_id != ctx.message.accountid:
        raise Rejected("account_id_mismatch",
                       f"data.account_id {cmd.account_id!r} differs from accountid {ctx.message.accountid!r}")
    existing = await repository.get_account(ctx.conn, cmd.account_id, for_update=True)
    if existing is not None:
        if not existing.same_request(cmd):
            raise Rejected("account_already_exists",
                           f"account {cmd.account_id} already exists with other data")
        # A retry with a new command id: answer it again, change nothing.
        await ctx.emit(_account_created(existing), subject=existing.account_id)
        return
    account = open_account(cmd)
    await repository.insert_account(ctx.conn, account, parsing_email(account.enterprise_instance_id))
    await ctx.emit(_account_created(account), subject=account.account_id)
