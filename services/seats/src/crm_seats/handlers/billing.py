"""What every purchase and seat change starts from: the account's subscription, locked and moved
into today's billing period (each period entered bills the seats and every recurring item again),
and the pro-rated charge of a purchase made today."""

from __future__ import annotations

from dataclasses import replace

from crm_contracts.seats import ChargeCreated, PeriodRenewed, SubscriptionReduced
from crm_contracts.seats import Proration as ProrationData
from crm_runtime.handlers import HandlerContext

from .. import repository
from ..domain.ledger import Subscription
from ..domain.periods import Period
from ..domain.prices import quote, renewal_lines

async def renew(ctx: HandlerContext, sub: Subscription) -> Subscription:
    """`sub` moved into the period containing today; each period entered on the way is recorded
    and published once (the first message of the account to fall in it does this)."""
    renewed, renewals = sub.renewed_to(sub.day_at(ctx.now()))
    if not renewals:
        return sub
    await repository.ledger.save_subscription(ctx.conn, renewed)
    for r in renewals:
        in_period = replace(renewed, period_start=r.period.start, period_end=r.period.end, seats_total=r.seats_total)
        await repository.ledger.record_period(ctx.conn, in_period, ctx.message)
        if r.reduced_from is not None:
            await repository.ledger.append_ledger(ctx.conn, in_period, change="reduced", cause=ctx.message)
            await ctx.emit(SubscriptionReduced(from_total=r.reduced_from, to_total=r.seats_total,
                                               period_start=r.period.start))
        await ctx.emit(PeriodRenewed(period_start=r.period.start, period_end=r.period.end, seats_total=r.seats_total,
                                     seat_price_cents=renewed.seat_price_cents, currency=renewed.currency))
        await _bill_recurring(ctx, renewed, r.period)
    return renewed


async def _bill_recurring(ctx: HandlerContext, sub: Subscription, period: Period) -> None:
    """Every package, add-on and calling package still held at the period's start, charged in full
    for it at today's price list (twelve months' worth on a yearly subscription)."""
    held = await repository.purchases.recurring_items(ctx.conn, sub.account_id, period.start)
    if not held:
        return
    rows = [{**line, "charge_id": ctx.derived_id("chg", line["renews"], period.start.isoformat()),
             "description": f"{line['item']} renewed for instance {line['instance_id']}: {period.start} to {period.end}"}
            for line in renewal_lines(held, sub, await repository.purchases.price_list(ctx.conn, sub.account_id))]
    written = set(await repository.purchases.insert_renewal_charges(ctx.conn, sub.account_id, rows, period_start=period.start,
                                                          period_end=period.end, cause_id=ctx.message.id))
    for row in rows:
        if row["charge_id"] not in written:
            continue
        await ctx.emit(ChargeCreated(
            charge_id=row["charge_id"], amount_cents=row["amount_cents"], currency=row["currency"],
            description=row["description"], period_start=period.start, period_end=period.end,
            charged_on=period.start, proration=ProrationData(days_remaining=period.days, days_in_period=period.days),
            item=row["item"], instance_id=row["instance_id"], buyer_user_id=row["user_id"]),
            subject=row["user_id"], instanceid=row["instance_id"])


async def subscription(ctx: HandlerContext) -> Subscription:
    """The account's subscription, row-locked for this transaction, in today's period."""
    return await renew(ctx, await repository.ledger.lock_subscription(ctx.conn, ctx.message.accountid))


async def charge(ctx: HandlerContext, sub: Subscription, *, user_id: str, price_cents: int, currency: str,
                  what: str, item: str | None = None, instance_id: str | None = None) -> str | None:
    """Record and publish the pro-rated charge of a purchase made today — the amount its quote
    gives; its id, or None when this instance's package was charged already (a redelivered creation)."""
    today = sub.day_at(ctx.now())
    q = quote(item or "seat", price_cents, currency, sub, today)
    charge_id = ctx.derived_id("chg", item or "seat", user_id)
    description = (f"{what}: {q.days_remaining} of {q.days_in_period} days to {q.period_end} "
                   f"at {price_cents} {currency} cents")
    if not await repository.ledger.insert_charge(
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

