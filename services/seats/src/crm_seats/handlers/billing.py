"""What every purchase and seat change starts from: the account's subscription, locked and moved
into today's billing period, and the pro-rated charge of a purchase made today."""

from __future__ import annotations

from dataclasses import replace

from crm_contracts.seats import ChargeCreated, PeriodRenewed, SubscriptionReduced
from crm_contracts.seats import Proration as ProrationData
from crm_runtime.handlers import HandlerContext

from .. import repository
from ..domain.ledger import Subscription
from ..domain.prices import quote

async def renew(ctx: HandlerContext, sub: Subscription) -> Subscription:
    """`sub` moved into the period containing today; each period entered on the way is recorded
    and published once (the first message of the account to fall in it does this)."""
    renewed, renewals = sub.renewed_to(sub.day_at(ctx.now()))
    if not renewals:
        return sub
    await repository.save_subscription(ctx.conn, renewed)
    for r in renewals:
        in_period = replace(renewed, period_start=r.period.start, period_end=r.period.end, seats_total=r.seats_total)
        await repository.record_period(ctx.conn, in_period, ctx.message)
        if r.reduced_from is not None:
            await repository.append_ledger(ctx.conn, in_period, change="reduced", cause=ctx.message)
            await ctx.emit(SubscriptionReduced(from_total=r.reduced_from, to_total=r.seats_total,
                                               period_start=r.period.start))
        await ctx.emit(PeriodRenewed(period_start=r.period.start, period_end=r.period.end, seats_total=r.seats_total,
                                     seat_price_cents=renewed.seat_price_cents, currency=renewed.currency))
    return renewed


async def subscription(ctx: HandlerContext) -> Subscription:
    """The account's subscription, row-locked for this transaction, in today's period."""
    return await renew(ctx, await repository.lock_subscription(ctx.conn, ctx.message.accountid))


async def charge(ctx: HandlerContext, sub: Subscription, *, user_id: str, price_cents: int, currency: str,
                  what: str, item: str | None = None, instance_id: str | None = None) -> str | None:
    """Record and publish the pro-rated charge of a purchase made today — the amount its quote
    gives; its id, or None when this instance's package was charged already (a redelivered creation)."""
    today = sub.day_at(ctx.now())
    q = quote(item or "seat", price_cents, currency, sub, today)
    charge_id = ctx.derived_id("chg", item or "seat", user_id)
    description = (f"{what}: {q.days_remaining} of {q.days_in_period} days to {q.period_end} "
                   f"at {price_cents} {currency} cents")
    if not await repository.insert_charge(
            ctx.conn, charge_id=charge_id, account_id=sub.account_id, user_id=user_id,
            amount_cents=q.amount_cents, currency=currency, description=description,
            days_remaining=q.days_remaining, days_in_period=q.days_in_period, period_start=q.period_start,
            period_end=q.period_end, charged_on=today, cause=ctx.message, item=item, instance_id=instance_id):
        return None
    await ctx.emit(ChargeCreated(
        charge_id=charge_id, amount_cents=q.amount_cents, currency=currency,
        description=description, period_start=q.period_start, period_end=q.period_end, charged_on=today,
        proration=ProrationData(days_remaining=q.days_remaining, days_in_period=q.days_in_period),
        item=item, instance_id=instance_id, buyer_user_id=user_id if item else None),
        subject=user_id, **({"instanceid": instance_id} if instance_id else {}))
    return charge_id

