"""One function per command or event the seats service acts on."""

from __future__ import annotations

from crm_contracts.identity import AccountCreated
from crm_contracts.seats import SetSubscription, SubscriptionChanged
from crm_runtime.handling import HandlerContext, Handlers, Rejected

from . import repository
from .domain.ledger import LedgerError

handlers = Handlers()


@handlers.on(AccountCreated)
async def open_ledger(ctx: HandlerContext, event: AccountCreated) -> None:
    sub = await repository.lock_subscription(ctx.conn, event.account_id)
    await repository.record_owner(ctx.conn, event.account_id, event.tier.value, event.owner_user_id,
                                  event.owner_email)
    await repository.append_ledger(ctx.conn, sub, change="account_opened", cause=ctx.message)


@handlers.on(SetSubscription)
async def set_subscription(ctx: HandlerContext, cmd: SetSubscription) -> None:
    sub = await repository.lock_subscription(ctx.conn, ctx.message.accountid)
    try:
        changed = sub.set_plan(**cmd.model_dump())
    except LedgerError as err:
        raise Rejected(err.reason, str(err)) from None
    await repository.save_subscription(ctx.conn, changed)
    await repository.append_ledger(ctx.conn, changed, change="subscription_set", cause=ctx.message)
    await ctx.emit(SubscriptionChanged(seats_used=changed.seats_used, **cmd.model_dump()))
