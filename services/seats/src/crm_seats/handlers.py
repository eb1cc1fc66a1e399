"""One function per command or event the seats service acts on."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_contracts.identity import (
    AccountCreated,
    InstanceCreated,
    InstanceMemberJoined,
    InstanceMemberRemoved,
    InstanceMemberRoleChanged,
    InvitationAccepted,
    InvitationKind,
    MemberAdded,
    MemberStatus,
    MemberStatusChanged,
)
from crm_contracts.seats import (
    ADDONS,
    CALLING_PACKAGES,
    INTEGRATIONS,
    AccountUpgraded,
    AddonPurchased,
    CallingPackagePurchased,
    ConnectIntegration,
    DisconnectIntegration,
    IntegrationChanged,
    PriceListChanged,
    PurchaseAddon,
    PurchaseCallingPackage,
    SetPriceList,
    ChargeCreated,
    SeatDenied,
    SeatReleased,
    SeatReserved,
    SetSubscription,
    SubscriptionChanged,
)
from crm_contracts.seats import Proration as ProrationData
from crm_runtime.handling import HandlerContext, Handlers, Rejected

from . import repository
from .domain.entitlements import CallingPurchase
from .domain.ledger import LedgerError, Subscription
from .domain.prices import charge

handlers = Handlers()


# --- building blocks ------------------------------------------------------------------------


async def _charge(ctx: HandlerContext, sub: Subscription, *, user_id: str, price_cents: int, currency: str,
                  what: str, item: str | None = None, instance_id: str | None = None) -> str | None:
    """Record and publish the pro-rated charge of a purchase made now; its id, or None when this
    instance's package was charged already (a redelivered creation)."""
    on = (ctx.message.time or datetime.now(UTC)).astimezone(UTC).date()
    proration, period_end = charge(price_cents, sub.period_start, sub.period_end, on)
    charge_id = ctx.derived_id("chg", item or "seat", user_id)
    description = (f"{what}: {proration.days_remaining} of {proration.days_in_period} days to {period_end} "
                   f"at {price_cents} {currency} cents")
    if not await repository.insert_charge(
            ctx.conn, charge_id=charge_id, account_id=sub.account_id, user_id=user_id,
            amount_cents=proration.amount_cents, currency=currency, description=description,
            days_remaining=proration.days_remaining, days_in_period=proration.days_in_period,
            period_end=period_end, cause=ctx.message, item=item, instance_id=instance_id):
        return None
    await ctx.emit(ChargeCreated(
        charge_id=charge_id, amount_cents=proration.amount_cents, currency=currency,
        description=description, period_end=period_end,
        proration=ProrationData(days_remaining=proration.days_remaining, days_in_period=proration.days_in_period),
        item=item, instance_id=instance_id, buyer_user_id=user_id if item else None),
        subject=user_id, **({"instanceid": instance_id} if instance_id else {}))
    return charge_id


async def _upgrade(ctx: HandlerContext, sub: Subscription, user_id: str) -> Subscription:
    """Buy the one missing seat at the current price and record its pro-rated charge."""
    upgraded = sub.upgrade_one()
    await ctx.emit(AccountUpgraded(from_total=sub.seats_total, to_total=upgraded.seats_total,
                                   unit_price_cents=sub.seat_price_cents, reason="opt_in_accepted",
                                   user_id=user_id), subject=user_id)
    charge_id = await _charge(ctx, sub, user_id=user_id, price_cents=sub.seat_price_cents, currency=sub.currency,
                              what=f"1 seat added automatically for {user_id}")
    await repository.append_ledger(ctx.conn, upgraded, change="upgraded", cause=ctx.message, user_id=user_id,
                                   charge_id=charge_id)
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
    await repository.upsert_instance(ctx.conn, event.enterprise_instance_id, event.account_id, "enterprise",
                                     event.owner_user_id, None, event.name)


@handlers.on(MemberAdded)
async def member_added(ctx: HandlerContext, event: MemberAdded) -> None:
    await repository.set_member_status(ctx.conn, ctx.message.accountid, event.user_id, event.status.value, event.role)
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


# --- private instances and what is bought for them (PI1, PI9, PI10) ---------------------------------


@handlers.on(InstanceCreated)
async def instance_created(ctx: HandlerContext, event: InstanceCreated) -> None:
    """A private instance is charged its package, pro-rated, at the price the account has now."""
    if not await repository.upsert_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.kind,
                                            event.owner_user_id, event.package, event.name):
        return
    sub = await repository.lock_subscription(ctx.conn, ctx.message.accountid)
    prices = await repository.price_list(ctx.conn, sub.account_id)
    item = f"package:{event.package}"
    await _charge(ctx, sub, user_id=event.owner_user_id, price_cents=prices.prices[item], currency=prices.currency,
                  what=f"private instance {event.name!r} ({event.package}) for {event.owner_user_id}",
                  item=item, instance_id=event.instance_id)


@handlers.on(InstanceMemberJoined)
async def instance_member_joined(ctx: HandlerContext, event: InstanceMemberJoined) -> None:
    await repository.join_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.user_id, event.role)


@handlers.on(InstanceMemberRoleChanged)
async def instance_member_role_changed(ctx: HandlerContext, event: InstanceMemberRoleChanged) -> None:
    await repository.join_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.user_id, event.role)


@handlers.on(InstanceMemberRemoved)
async def instance_member_removed(ctx: HandlerContext, event: InstanceMemberRemoved) -> None:
    await repository.leave_instance(ctx.conn, event.instance_id, event.user_id)


async def _members_of(ctx: HandlerContext, instance_id: str, **who: str) -> None:
    """Refuse unless the instance is this account's and each named user belongs to it."""
    if await repository.instance_account(ctx.conn, instance_id) != ctx.message.accountid:
        raise Rejected("unknown_instance", f"no instance {instance_id} in account {ctx.message.accountid}")
    members = await repository.membership(ctx.conn, ctx.message.accountid, instance_id, list(who.values()))
    for role, user_id in who.items():
        if not members[user_id]:
            reason = "not_instance_member" if role == "buyer" else "assignee_not_instance_member"
            raise Rejected(reason, f"{user_id} is not a member of instance {instance_id}")


@handlers.on(PurchaseAddon)
async def purchase_addon(ctx: HandlerContext, cmd: PurchaseAddon) -> None:
    if cmd.addon not in ADDONS:
        raise Rejected("unknown_addon", f"no add-on {cmd.addon!r}; add-ons are {', '.join(ADDONS)}")
    sub = await repository.lock_subscription(ctx.conn, ctx.message.accountid)
    await _members_of(ctx, cmd.instance_id, buyer=cmd.buyer_user_id)
    prices = await repository.price_list(ctx.conn, sub.account_id)
    item = f"addon:{cmd.addon}"
    charge_id = await _charge(ctx, sub, user_id=cmd.buyer_user_id, price_cents=prices.prices[item],
                              currency=prices.currency, what=f"add-on {cmd.addon} for instance {cmd.instance_id}",
                              item=item, instance_id=cmd.instance_id)
    assert charge_id is not None
    if not await repository.insert_addon(ctx.conn, sub.account_id, cmd.instance_id, cmd.addon, cmd.buyer_user_id,
                                         charge_id):
        raise Rejected("addon_already_active", f"{cmd.addon} is already active on instance {cmd.instance_id}")
    await ctx.emit(AddonPurchased(instance_id=cmd.instance_id, addon=cmd.addon, buyer_user_id=cmd.buyer_user_id,
                                  charge_id=charge_id), subject=cmd.buyer_user_id, instanceid=cmd.instance_id)


@handlers.on(PurchaseCallingPackage)
async def purchase_calling_package(ctx: HandlerContext, cmd: PurchaseCallingPackage) -> None:
    if cmd.package_id not in CALLING_PACKAGES:
        raise Rejected("unknown_calling_package",
                       f"no calling package {cmd.package_id!r}; they are {', '.join(CALLING_PACKAGES)}")
    sub = await repository.lock_subscription(ctx.conn, ctx.message.accountid)
    await _members_of(ctx, cmd.instance_id, buyer=cmd.buyer_user_id, assignee=cmd.assigned_user_id)
    prices = await repository.price_list(ctx.conn, sub.account_id)
    item = f"calling:{cmd.package_id}"
    charge_id = await _charge(ctx, sub, user_id=cmd.buyer_user_id, price_cents=prices.prices[item],
                              currency=prices.currency,
                              what=f"{cmd.package_id} for {cmd.assigned_user_id} on instance {cmd.instance_id}",
                              item=item, instance_id=cmd.instance_id)
    assert charge_id is not None
    purchase = CallingPurchase(purchase_id=ctx.derived_id("cpk"), package_id=cmd.package_id,
                               buyer_user_id=cmd.buyer_user_id, assigned_user_id=cmd.assigned_user_id,
                               instance_id=cmd.instance_id, number_kind=cmd.number_kind.value)
    await repository.insert_calling_package(ctx.conn, sub.account_id, purchase, charge_id)
    await ctx.emit(CallingPackagePurchased(charge_id=charge_id, **purchase.__dict__),
                   subject=cmd.assigned_user_id, instanceid=cmd.instance_id)


async def _integration(ctx: HandlerContext, user_id: str, integration: str, connected: bool) -> None:
    if integration not in INTEGRATIONS:
        raise Rejected("unknown_integration",
                       f"no integration {integration!r}; they are {', '.join(INTEGRATIONS)}")
    await repository.set_integration(ctx.conn, ctx.message.accountid, user_id, integration, connected)
    await ctx.emit(IntegrationChanged(user_id=user_id, integration=integration, connected=connected), subject=user_id)


@handlers.on(ConnectIntegration)
async def connect_integration(ctx: HandlerContext, cmd: ConnectIntegration) -> None:
    await _integration(ctx, cmd.user_id, cmd.integration, True)


@handlers.on(DisconnectIntegration)
async def disconnect_integration(ctx: HandlerContext, cmd: DisconnectIntegration) -> None:
    await _integration(ctx, cmd.user_id, cmd.integration, False)


@handlers.on(SetPriceList)
async def set_price_list(ctx: HandlerContext, cmd: SetPriceList) -> None:
    # The subscription lock orders this change with the account's purchases.
    sub = await repository.lock_subscription(ctx.conn, ctx.message.accountid)
    prices = (await repository.price_list(ctx.conn, sub.account_id)).changed(cmd.prices, cmd.currency)
    await repository.save_price_list(ctx.conn, sub.account_id, prices)
    await ctx.emit(PriceListChanged(prices=prices.prices, currency=prices.currency))
