"""Seats: reserved, upgraded, denied and released as identity's members move (AO9, AO10), and the
subscription billing sets."""

from __future__ import annotations

from crm_contracts.identity import (
    AccountCreated,
    InvitationAccepted,
    InvitationKind,
    MemberAdded,
    MemberMove,
    MemberStatus,
    MemberDetailsChanged,
    MemberStatusChanged,
)
from crm_contracts.seats import (
    AccountUpgraded,
    ReductionScheduled,
    ScheduleReduction,
    SeatDenied,
    SeatReleased,
    SeatReserved,
    SetSubscription,
    SubscriptionChanged,
)
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository
from ..domain.ledger import LedgerError, Subscription
from .billing import charge, renew, subscription
from .gate import system

handlers = Handlers()


async def _upgrade(ctx: HandlerContext, sub: Subscription, user_id: str, *, for_owner: bool) -> Subscription:
    """Buy the one missing seat at the current price and record its pro-rated charge."""
    upgraded = sub.upgrade_one(for_owner=for_owner)
    reason = "account_owner" if for_owner else "opt_in_accepted"
    await ctx.emit(AccountUpgraded(from_total=sub.seats_total, to_total=upgraded.seats_total,
                                   unit_price_cents=sub.seat_price_cents, reason=reason,
                                   user_id=user_id), subject=user_id)
    what = f"1 seat added automatically for {'the account owner ' if for_owner else ''}{user_id}"
    charge_id = await charge(ctx, sub, user_id=user_id, price_cents=sub.seat_price_cents, currency=sub.currency,
                              what=what)
    await repository.ledger.append_ledger(ctx.conn, upgraded, change="upgraded", cause=ctx.message, user_id=user_id,
                                   charge_id=charge_id)
    return upgraded


async def _seat(ctx: HandlerContext, user_id: str, *, may_upgrade: bool) -> None:
    """Reserve a seat for `user_id`; with none free, upgrade (opt-in, and the account's owner) or
    deny (immediate).

    The subscription row lock makes concurrent requests for one account take turns, so the
    last free seat is given once and each upgrade buys exactly one seat (never past the limit
    the account set on automatic upgrades, but for the owner's own seat).
    """
    sub = await subscription(ctx)
    owner = user_id == sub.owner_user_id
    if await repository.ledger.holds_seat(ctx.conn, sub.account_id, user_id):
        # Asked again for a seat already held: confirm it, take nothing more.
        await ctx.emit(SeatReserved(user_id=user_id, seats_used=sub.seats_used, seats_total=sub.seats_total,
                                    auto_upgraded=False, account_owner=owner), subject=user_id)
        return
    auto_upgraded = False
    if sub.available <= 0 and (may_upgrade or owner):
        try:
            sub = await _upgrade(ctx, sub, user_id, for_owner=owner)
            auto_upgraded = True
        except LedgerError as err:
            await _deny(ctx, sub, user_id, err.reason)
            return
    try:
        reserved = sub.reserve()
    except LedgerError as err:
        await _deny(ctx, sub, user_id, err.reason)
        return
    await repository.ledger.add_holder(ctx.conn, sub.account_id, user_id, auto_upgraded=auto_upgraded, cause=ctx.message,
                                on=sub.day_at(ctx.now()))
    await repository.ledger.save_subscription(ctx.conn, reserved)
    await repository.ledger.append_ledger(ctx.conn, reserved, change="reserved", cause=ctx.message, user_id=user_id)
    await ctx.emit(SeatReserved(user_id=user_id, seats_used=reserved.seats_used, seats_total=reserved.seats_total,
                                auto_upgraded=auto_upgraded, account_owner=owner), subject=user_id)


async def _seat_owner(ctx: HandlerContext, sub: Subscription) -> None:
    """The owner is a platform user of the account from the moment it has a subscription: they
    sit in one of the seats it pays for (one is bought when none is free)."""
    if sub.has_plan and sub.owner_user_id is not None \
            and not await repository.ledger.holds_seat(ctx.conn, sub.account_id, sub.owner_user_id):
        await _seat(ctx, sub.owner_user_id, may_upgrade=True)


async def _deny(ctx: HandlerContext, sub: Subscription, user_id: str, reason: str) -> None:
    await repository.ledger.append_ledger(ctx.conn, sub, change="denied", cause=ctx.message, user_id=user_id)
    await ctx.emit(SeatDenied(user_id=user_id, reason=reason, seats_used=sub.seats_used,
                              seats_total=sub.seats_total), subject=user_id)


async def _release(ctx: HandlerContext, user_id: str) -> None:
    sub = await subscription(ctx)
    if not await repository.ledger.holds_seat(ctx.conn, sub.account_id, user_id):
        return
    released = sub.release()
    await repository.ledger.remove_holder(ctx.conn, sub.account_id, user_id)
    await repository.ledger.save_subscription(ctx.conn, released)
    await repository.ledger.append_ledger(ctx.conn, released, change="released", cause=ctx.message, user_id=user_id)
    await ctx.emit(SeatReleased(user_id=user_id, seats_used=released.seats_used,
                                seats_total=released.seats_total), subject=user_id)


# --- identity events ------------------------------------------------------------------------


@handlers.on(AccountCreated)
async def open_ledger(ctx: HandlerContext, event: AccountCreated) -> None:
    sub = await repository.ledger.open_account(ctx.conn, event.account_id, event.tier.value, event.owner_user_id,
                                        event.owner_email)
    await repository.ledger.append_ledger(ctx.conn, sub, change="account_opened", cause=ctx.message)
    await repository.purchases.upsert_instance(ctx.conn, event.enterprise_instance_id, event.account_id, "enterprise",
                                     event.owner_user_id, None, event.name)
    await _seat_owner(ctx, sub)  # a subscription set before the account's creation reached seats


@handlers.on(MemberAdded)
async def member_added(ctx: HandlerContext, event: MemberAdded) -> None:
    await repository.ledger.set_member_status(ctx.conn, ctx.message.accountid, event.user_id, event.status.value,
                                      event.administers_account)
    if event.status is MemberStatus.PENDING_SEAT:
        await _seat(ctx, event.user_id, may_upgrade=False)


@handlers.on(MemberDetailsChanged)
async def member_details_changed(ctx: HandlerContext, event: MemberDetailsChanged) -> None:
    await repository.ledger.set_administers(ctx.conn, ctx.message.accountid, event.user_id, event.administers_account)


@handlers.on(MemberStatusChanged)
async def member_status_changed(ctx: HandlerContext, event: MemberStatusChanged) -> None:
    await repository.ledger.set_member_status(ctx.conn, ctx.message.accountid, event.user_id, event.to_status.value)
    if event.to_status is MemberStatus.INACTIVE:
        await _release(ctx, event.user_id)
    # An accepted opt-in is answered on invitation.accepted, where upgrading is allowed.
    elif event.to_status is MemberStatus.PENDING_SEAT and event.moved_by is not MemberMove.OPT_IN_ACCEPTED:
        await _seat(ctx, event.user_id, may_upgrade=False)


@handlers.on(InvitationAccepted)
async def invitation_accepted(ctx: HandlerContext, event: InvitationAccepted) -> None:
    if event.kind is InvitationKind.OPT_IN:
        await _seat(ctx, event.user_id, may_upgrade=True)


# --- commands ---------------------------------------------------------------------------------


@handlers.on(SetSubscription)
async def set_subscription(ctx: HandlerContext, cmd: SetSubscription) -> None:
    system(ctx)
    """A new plan; a first period that is already over renews at once, so today's purchases are
    priced in the period they fall in."""
    sub = await subscription(ctx)
    changed = sub.set_plan(seats_total=cmd.seats_total, seat_price_cents=cmd.seat_price_cents, currency=cmd.currency,
                           period_start=cmd.period_start, period_end=cmd.period_end, interval=cmd.interval.value,
                           auto_upgrade_mode=cmd.auto_upgrade.mode.value, auto_upgrade_max=cmd.auto_upgrade.max_seats,
                           time_zone=cmd.time_zone)
    await repository.ledger.save_subscription(ctx.conn, changed)
    await repository.ledger.record_period(ctx.conn, changed, ctx.message)
    await repository.ledger.append_ledger(ctx.conn, changed, change="subscription_set", cause=ctx.message)
    await ctx.emit(SubscriptionChanged(seats_used=changed.seats_used, **cmd.model_dump()))
    await _seat_owner(ctx, await renew(ctx, changed))


@handlers.on(ScheduleReduction)
async def schedule_reduction(ctx: HandlerContext, cmd: ScheduleReduction) -> None:
    system(ctx)
    sub = await subscription(ctx)
    scheduled = sub.schedule_reduction(cmd.seats_total)
    await repository.ledger.save_subscription(ctx.conn, scheduled)
    await repository.ledger.append_ledger(ctx.conn, scheduled, change="reduction_scheduled", cause=ctx.message)
    assert scheduled.period_end is not None
    await ctx.emit(ReductionScheduled(seats_total=cmd.seats_total, effective_on=scheduled.period_end))


