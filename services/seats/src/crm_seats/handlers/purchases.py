"""Private instances and what is bought for them (PI1, PI9, PI10): packages, add-ons, calling
packages, integrations and the price list they are charged from."""

from __future__ import annotations

from crm_contracts.calls import BridgeNumberAssigned
from crm_contracts.identity import (
    InstanceCancelled,
    InstanceCreated,
    InstanceMemberJoined,
    InstanceMemberRemoved,
    InstanceMemberRoleChanged,
    InstanceOwnershipTransferred,
)
from crm_contracts.seats import (
    ADDONS,
    CALLING_PACKAGES,
    INTEGRATIONS,
    AddonCancelled,
    AddonPurchased,
    CancelAddon,
    CallingPackagePurchased,
    ConnectIntegration,
    DisconnectIntegration,
    IntegrationChanged,
    PriceListChanged,
    PurchaseAddon,
    PurchaseCallingPackage,
    SetPriceList,
)
from crm_runtime.handlers import HandlerContext, Handlers, Rejected

from .. import repository
from ..domain.entitlements import CallingPurchase
from ..domain.prices import DEFAULT_PRICES, unit_price
from ..settings import SeatsSettings
from .billing import charge, subscription
from .gate import permitted, permitted_about, system

handlers = Handlers()


@handlers.on(InstanceCreated)
async def instance_created(ctx: HandlerContext, event: InstanceCreated) -> None:
    """A private instance is charged its package, pro-rated, at the price the account has now."""
    item = f"package:{event.package}"
    if item not in DEFAULT_PRICES:  # a package this price list does not sell: refused, not a crash
        raise Rejected("unknown_package", f"no price for package {event.package[:200]!r}")
    if not await repository.purchases.upsert_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.kind,
                                            event.owner_user_id, event.package, event.name, event.mls_id):
        return
    sub = await subscription(ctx)
    price, currency = unit_price(item, sub, await repository.purchases.price_list(ctx.conn, sub.account_id))
    await charge(ctx, sub, user_id=event.owner_user_id, price_cents=price, currency=currency,
                  what=f"private instance {event.name!r} ({event.package}) for {event.owner_user_id}",
                  item=item, instance_id=event.instance_id)


@handlers.on(InstanceMemberJoined)
async def instance_member_joined(ctx: HandlerContext, event: InstanceMemberJoined) -> None:
    await repository.purchases.join_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.user_id, event.role)


@handlers.on(InstanceMemberRoleChanged)
async def instance_member_role_changed(ctx: HandlerContext, event: InstanceMemberRoleChanged) -> None:
    await repository.purchases.join_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.user_id, event.role)


@handlers.on(InstanceMemberRemoved)
async def instance_member_removed(ctx: HandlerContext, event: InstanceMemberRemoved) -> None:
    await repository.purchases.leave_instance(ctx.conn, event.instance_id, event.user_id)


@handlers.on(InstanceOwnershipTransferred)
async def ownership_transferred(ctx: HandlerContext, event: InstanceOwnershipTransferred) -> None:
    await repository.purchases.close_instance(ctx.conn, event.instance_id, owner_user_id=event.to_user_id)


@handlers.on(InstanceCancelled)
async def instance_cancelled(ctx: HandlerContext, event: InstanceCancelled) -> None:
    """Its package and add-ons stop: billed for the period it was cancelled in, not renewed after."""
    sub = await subscription(ctx)  # a cancellation on a new period's first day comes after its renewal
    await repository.purchases.close_instance(ctx.conn, event.instance_id, cancelled_on=sub.day_at(ctx.now()))


async def members_of(ctx: HandlerContext, instance_id: str, **who: str) -> None:
    """Refuse unless the instance is this account's and each named user belongs to it."""
    found = await repository.purchases.instance_account(ctx.conn, instance_id)
    if found is None or found["account_id"] != ctx.message.accountid:
        raise Rejected("unknown_instance", f"no instance {instance_id} in account {ctx.message.accountid}")
    if found["cancelled"]:
        raise Rejected("instance_cancelled", f"instance {instance_id} was cancelled: nothing more is bought for it")
    members = await repository.purchases.membership(ctx.conn, ctx.message.accountid, instance_id, list(who.values()))
    for role, user_id in who.items():
        if not members[user_id]:
            reason = "not_instance_member" if role == "buyer" else "assignee_not_instance_member"
            raise Rejected(reason, f"{user_id} is not a member of instance {instance_id}")


@handlers.on(PurchaseAddon)
async def purchase_addon(ctx: HandlerContext, cmd: PurchaseAddon) -> None:
    await permitted(ctx, cmd.buyer_user_id)
    if cmd.addon not in ADDONS:
        raise Rejected("unknown_addon", f"no add-on {cmd.addon!r}; add-ons are {', '.join(ADDONS)}")
    sub = await subscription(ctx)
    await members_of(ctx, cmd.instance_id, buyer=cmd.buyer_user_id)
    # Read under the subscription's row lock (taken above): two purchases racing are one.
    held = await repository.purchases.addon(ctx.conn, cmd.instance_id, cmd.addon)
    if held is not None and held["ends_on"] is None:
        raise Rejected("addon_already_active", f"{cmd.addon} is already active on instance {cmd.instance_id}")
    if held is not None and held["ends_on"] > sub.day_at(ctx.now()):
        # Cancelled, but paid for to the end of this period: it simply goes on, charged nothing more.
        await repository.purchases.end_addon(ctx.conn, cmd.instance_id, cmd.addon, None)
        await ctx.emit(AddonPurchased(instance_id=cmd.instance_id, addon=cmd.addon, buyer_user_id=held["buyer_user_id"],
                                      charge_id=held["charge_id"], resumed=True),
                       subject=cmd.buyer_user_id, instanceid=cmd.instance_id)
        return
    item = f"addon:{cmd.addon}"
    price, currency = unit_price(item, sub, await repository.purchases.price_list(ctx.conn, sub.account_id))
    charge_id = await charge(ctx, sub, user_id=cmd.buyer_user_id, price_cents=price, currency=currency,
                              what=f"add-on {cmd.addon} for instance {cmd.instance_id}",
                              item=item, instance_id=cmd.instance_id)
    assert charge_id is not None
    await repository.purchases.put_addon(ctx.conn, sub.account_id, cmd.instance_id, cmd.addon, cmd.buyer_user_id, charge_id)
    await ctx.emit(AddonPurchased(instance_id=cmd.instance_id, addon=cmd.addon, buyer_user_id=cmd.buyer_user_id,
                                  charge_id=charge_id), subject=cmd.buyer_user_id, instanceid=cmd.instance_id)


@handlers.on(CancelAddon)
async def cancel_addon(ctx: HandlerContext, cmd: CancelAddon) -> None:
    """Stopped from the next period: the period it is cancelled in is paid for and it runs to its
    end (the same rule as a cancelled instance); nothing is credited."""
    sub = await subscription(ctx)
    held = await repository.purchases.addon(ctx.conn, cmd.instance_id, cmd.addon)
    if held is not None and held["account_id"] != sub.account_id:
        held = None  # another account's instance: as if none were held
    # Who bought it may stop it, and the account's admins; that none is held, only admins learn.
    await permitted_about(ctx, cmd.by_user_id, held["buyer_user_id"] if held is not None else None)
    today = sub.day_at(ctx.now())
    if held is None or (held["ends_on"] is not None and held["ends_on"] <= today):
        raise Rejected("addon_not_active", f"{cmd.addon!r} is not active on instance {cmd.instance_id}")
    if held["ends_on"] is not None:
        raise Rejected("addon_already_cancelled", f"{cmd.addon} on instance {cmd.instance_id} already stops "
                       f"on {held['ends_on']}; buying it again before then keeps it")
    assert sub.period_end is not None  # an add-on was charged, so the account has a plan
    await repository.purchases.end_addon(ctx.conn, cmd.instance_id, cmd.addon, sub.period_end)
    await ctx.emit(AddonCancelled(instance_id=cmd.instance_id, addon=cmd.addon, buyer_user_id=held["buyer_user_id"],
                                  by_user_id=cmd.by_user_id, ends_on=sub.period_end),
                   subject=cmd.by_user_id, instanceid=cmd.instance_id)


@handlers.on(PurchaseCallingPackage)
async def purchase_calling_package(ctx: HandlerContext, cmd: PurchaseCallingPackage) -> None:
    await permitted(ctx, cmd.buyer_user_id)
    if cmd.package_id not in CALLING_PACKAGES:
        raise Rejected("unknown_calling_package",
                       f"no calling package {cmd.package_id!r}; they are {', '.join(CALLING_PACKAGES)}")
    sub = await subscription(ctx)
    await members_of(ctx, cmd.instance_id, buyer=cmd.buyer_user_id, assignee=cmd.assigned_user_id)
    # Checked under the subscription's row lock (taken above), so two purchases racing are one.
    if await repository.purchases.owns_calling_package(ctx.conn, sub.account_id, cmd.instance_id, cmd.package_id,
                                             cmd.assigned_user_id):
        raise Rejected("already_owned", f"{cmd.assigned_user_id} already has {cmd.package_id} on instance "
                       f"{cmd.instance_id}; it is not charged twice")
    item = f"calling:{cmd.package_id}"
    price, currency = unit_price(item, sub, await repository.purchases.price_list(ctx.conn, sub.account_id))
    charge_id = await charge(ctx, sub, user_id=cmd.buyer_user_id, price_cents=price, currency=currency,
                              what=f"{cmd.package_id} for {cmd.assigned_user_id} on instance {cmd.instance_id}",
                              item=item, instance_id=cmd.instance_id)
    assert charge_id is not None
    purchase = CallingPurchase(purchase_id=ctx.derived_id("cpk"), package_id=cmd.package_id,
                               buyer_user_id=cmd.buyer_user_id, assigned_user_id=cmd.assigned_user_id,
                               instance_id=cmd.instance_id, number_kind=cmd.number_kind.value)
    await repository.purchases.insert_calling_package(ctx.conn, sub.account_id, purchase, charge_id)
    await give_bridge_number(ctx, sub.account_id, cmd.assigned_user_id)
    await ctx.emit(CallingPackagePurchased(charge_id=charge_id, **purchase.__dict__),
                   subject=cmd.assigned_user_id, instanceid=cmd.instance_id)


TRIES = 3  # another account's purchase may take the number chosen; the next free one is tried


async def give_bridge_number(ctx: HandlerContext, account_id: str, user_id: str) -> None:
    """The user's bridge number, the first time they get a calling package; refused
    (`number_pool_empty`) — and the purchase with it — when the pool has none left."""
    if await repository.calls.bridge_number(ctx.conn, account_id, user_id) is not None:
        return
    settings: SeatsSettings = ctx.settings  # seats' Service is built with them
    for _ in range(TRIES):
        number = await repository.calls.take_bridge_number(
            ctx.conn, account_id, user_id, prefix=settings.bridge_number_prefix,
            digits=settings.bridge_number_digits, count=settings.bridge_number_count)
        if number is not None:
            await ctx.emit(BridgeNumberAssigned(user_id=user_id, number=number), subject=user_id)
            return
    raise Rejected("number_pool_empty", "no bridge number is left to give; the pool needs more numbers")


async def _integration(ctx: HandlerContext, user_id: str, integration: str, connected: bool) -> None:
    await permitted(ctx, user_id)
    if integration not in INTEGRATIONS:
        raise Rejected("unknown_integration",
                       f"no integration {integration!r}; they are {', '.join(INTEGRATIONS)}")
    await repository.purchases.set_integration(ctx.conn, ctx.message.accountid, user_id, integration, connected)
    await ctx.emit(IntegrationChanged(user_id=user_id, integration=integration, connected=connected), subject=user_id)


@handlers.on(ConnectIntegration)
async def connect_integration(ctx: HandlerContext, cmd: ConnectIntegration) -> None:
    await _integration(ctx, cmd.user_id, cmd.integration, True)


@handlers.on(DisconnectIntegration)
async def disconnect_integration(ctx: HandlerContext, cmd: DisconnectIntegration) -> None:
    await _integration(ctx, cmd.user_id, cmd.integration, False)


@handlers.on(SetPriceList)
async def set_price_list(ctx: HandlerContext, cmd: SetPriceList) -> None:
    system(ctx)
    # The subscription lock orders this change with the account's purchases.
    sub = await subscription(ctx)
    prices = (await repository.purchases.price_list(ctx.conn, sub.account_id)).changed(cmd.prices, cmd.currency)
    await repository.purchases.save_price_list(ctx.conn, sub.account_id, prices)
    await ctx.emit(PriceListChanged(prices=prices.prices, currency=prices.currency))
