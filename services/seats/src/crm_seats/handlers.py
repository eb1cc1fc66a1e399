"""One function per command or event the seats service acts on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from crm_contracts.identity import (
    AccountCreated,
    InvitationAccepted,
    InvitationKind,
    MemberAdded,
    MemberStatus,
    MemberStatusChanged,
)
from crm_contracts.seats import (
    AccountUpgraded,
    ChargeCreated,
    SeatDenied,
    SeatReleased,
    SeatReserved,
    SetSubscription,
    SubscriptionChanged,
)
from crm_contracts.seats import Proration as ProrationData
from crm_runtime.handling import HandlerContext, Handlers

from . import repository
from .domain.ledger import LedgerError, Subscription

handlers = Handlers()


# --- building blocks ------------------------------------------------------------------------


async def _upgrade(ctx: HandlerContext, sub: Subscription, user_id: str) -> Subscription:
    """Buy the one missing seat at the current price and record its pro-rated charge."""
    on = (ctx.message.time or datetime.now(UTC)).astimezone(UTC).date()
    upgraded, proration = sub.upgrade_one(on)
    charge_id = "chg_" + uuid.uuid4().hex
    description = (f"1 seat added automatically for {user_id}: {proration.days_remaining} of "
                   f"{proration.days_in_period} days to {sub.period_end} at {sub.seat_price_cents} "
                   f"{sub.currency} cents a seat")
    await repository.insert_charge(
        ctx.conn, charge_id=charge_id, account_id=sub.account_id, user_id=user_id,
        amount_cents=proration.amount_cents, currency=sub.currency, description=description,
        days_remaining=proration.days_remaining, days_in_period=proration.days_in_period,
        period_end=sub.period_end, cause=ctx.message)
    await repository.append_ledger(ctx.conn, upgraded, change="upgraded", cause=ctx.message, user_id=user_id,
                                   charge_id=charge_id)
    await ctx.emit(AccountUpgraded(from_total=sub.seats_total, to_total=upgraded.seats_total,
                                   unit_price_cents=sub.seat_price_cents, reason="opt_in_accepted",
                                   user_id=user_id), subject=user_id)
    await ctx.emit(ChargeCreated(
        charge_id=charge_id, amount_cents=proration.amount_cents, currency=sub.currency,
        description=description, period_end=sub.period_end,
        proration=ProrationData(days_remaining=proration.days_remaining,
                                days_in_period=proration.days_in_period)), subject=user_id)
    return upgraded


async def _seat(ctx: HandlerContext, user_id: str, *, may_upgrade: bool) -> None:
    """Reserve a seat for `user_id`; with none free, upgrade (opt-in) or deny (immediate).

    The subscription row lock makes concurrent requests for one account take turns, so the
    last free seat is given once and each upgrade buys exactly one seat.
    """
    sub = await repository.lock_subscription(ctx.conn, ctx.message.accountid)
    if await repository.holds_seat(ctx.conn, sub.account_id, user_id):
        # Asked again for a seat already held: confirm it, take nothing more.
        await ctx.emit(SeatReserved(user_id=user_id, seats_used=sub.seats_used, seats_total=sub.seats_total,
                                    auto_upgraded=False), subject=user_id)
        return
    auto_upgraded = False
    if sub.available <= 0 and may_upgrade:
        try:
            sub = await _upgrade(ctx, sub, user_id)
            auto_upgraded = True
        except LedgerError as err:
            await _deny(ctx, sub, user_id, err.reason)
            return
    try:
        reserved = sub.reserve()
    except LedgerError as err:
        await _deny(ctx, sub, user_id, err.reason)
        return
    await repository.add_holder(ctx.conn, sub.account_id, user_id, auto_upgraded=auto_upgraded, cause=ctx.message)
    await repository.save_subscription(ctx.conn, reserved)
    await repository.append_ledger(ctx.conn, reserved, change="reserved", cause=ctx.message, user_id=user_id)
    await ctx.emit(SeatReserved(user_id=user_id, seats_used=reserved.seats_used,
                                seats_total=reserved.seats_total, auto_upgraded=auto_upgraded), subject=user_id)


async def _deny(ctx: HandlerContext, sub: Subscription, user_id: str, reason: str) -> None:
    await repository.append_ledger(ctx.conn, sub, change="denied", cause=ctx.message, user_id=user_id)
    await ctx.emit(SeatDenied(user_id=user_id, reason=reason), subject=user_id)


async def _release(ctx: HandlerContext, user_id: str) -> None:
    sub = await repository.lock_subscription(ctx.conn, ctx.message.accountid)
    if not await repository.holds_seat(ctx.conn, sub.account_id, user_id):
        return
    released = sub.release()
    await repository.remove_holder(ctx.conn, sub.account_id, user_id)
    await repository.save_subscription(ctx.conn, released)
    await repository.append_ledger(ctx.conn, released, change="released", cause=ctx.message, user_id=user_id)
    await ctx.emit(SeatReleased(user_id=user_id, seats_used=released.seats_used,
                                seats_total=released.seats_total), subject=user_id)


# --- identity events ------------------------------------------------------------------------


@handlers.on(AccountCreated)
async def open_ledger(ctx: HandlerContext, event: AccountCreated) -> None:
    sub = await repository.open_account(ctx.conn, event.account_id, event.tier.value, event.owner_user_id,
                                        event.owner_email)
    await repository.append_ledger(ctx.conn, sub, change="account_opened", cause=ctx.message)


@handlers.on(MemberAdded)
async def member_added(ctx: HandlerContext, event: MemberAdded) -> None:
    await repository.set_member_status(ctx.conn, ctx.message.accountid, event.user_id, event.status.value)
    if event.status is MemberStatus.PENDING_SEAT:
        await _seat(ctx, event.user_id, may_upgrade=False)


@handlers.on(MemberStatusChanged)
async def member_status_changed(ctx: HandlerContext, event: MemberStatusChanged) -> None:
    await repository.set_member_status(ctx.conn, ctx.message.accountid, event.user_id, event.to_status.value)
    if event.to_status is MemberStatus.INACTIVE:
        await _release(ctx, event.user_id)
    # An accepted opt-in is answered on invitation.accepted, where upgrading is allowed.
    elif event.to_status is MemberStatus.PENDING_SEAT and event.reason != "invitation_accepted":
        await _seat(ctx, event.user_id, may_upgrade=False)


@handlers.on(InvitationAccepted)
async def invitation_accepted(ctx: HandlerContext, event: InvitationAccepted) -> None:
    if event.kind is InvitationKind.OPT_IN:
        await _seat(ctx, event.user_id, may_upgrade=True)


# --- commands ---------------------------------------------------------------------------------


@handlers.on(SetSubscription)
async def set_subscription(ctx: HandlerContext, cmd: SetSubscription) -> None:
    sub = await repository.lock_subscription(ctx.conn, ctx.message.accountid)
    changed = sub.set_plan(**cmd.model_dump())
    await repository.save_subscription(ctx.conn, changed)
    await repository.append_ledger(ctx.conn, changed, change="subscription_set", cause=ctx.message)
    await ctx.emit(SubscriptionChanged(seats_used=changed.seats_used, **cmd.model_dump()))
