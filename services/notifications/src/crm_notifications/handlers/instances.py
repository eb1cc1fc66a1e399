"""An instance's life after purchase, told in the account's own instance where all can see."""

from __future__ import annotations

from crm_contracts.identity import (
    InstanceCancelled,
    InstanceFrozen,
    InstanceOwnershipTransferred,
)
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository

from .common import notify

handlers = Handlers()


# --- an instance's life after purchase: told in the account's own instance, where all can see ---


async def _notify_in_account(ctx: HandlerContext, user_ids: list[str], kind: str, title: str, body: str) -> None:
    account = await repository.accounts.get_account(ctx.conn, ctx.message.accountid)
    if account is not None:
        for user_id in dict.fromkeys(user_ids):
            await notify(ctx, user_id, account["enterprise_instance_id"], kind, title, body)


@handlers.on(InstanceFrozen)
async def instance_frozen(ctx: HandlerContext, event: InstanceFrozen) -> None:
    """The account's owner and active admins decide what happens to it."""
    account = await repository.accounts.get_account(ctx.conn, ctx.message.accountid)
    if account is None:
        return
    admins = [account["owner_user_id"]] + [a["user_id"] for a in await repository.accounts.account_admins(
        ctx.conn, account["account_id"])]
    name = await repository.accounts.instance_name(ctx.conn, event.instance_id)
    await _notify_in_account(ctx, admins, "instance_frozen", f"{name} is frozen",
                             f"Its owner {event.owner_user_id} was deactivated. Hand it to another member "
                             "or cancel it; until then it takes no new members.")


@handlers.on(InstanceOwnershipTransferred)
async def instance_handed_over(ctx: HandlerContext, event: InstanceOwnershipTransferred) -> None:
    name = await repository.accounts.instance_name(ctx.conn, event.instance_id)
    await _notify_in_account(ctx, [event.to_user_id], "instance_ownership", f"You own {name} now",
                             f"{name} was handed to you (it was {event.from_user_id}'s).")


@handlers.on(InstanceCancelled)
async def instance_cancelled(ctx: HandlerContext, event: InstanceCancelled) -> None:
    """Every member is told; the instance's leads stay readable until the date given."""
    name = await repository.accounts.instance_name(ctx.conn, event.instance_id)
    await _notify_in_account(ctx, await repository.accounts.instance_member_ids(ctx.conn, event.instance_id),
                             "instance_cancelled", f"{name} was cancelled",
                             f"Its leads can be read until {event.read_only_until.date().isoformat()}; "
                             "nothing new comes in.")
