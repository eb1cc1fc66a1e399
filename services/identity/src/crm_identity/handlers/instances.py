"""Private instances (PI1–PI4, PI11): bought, renamed, members invited, removed, given roles."""

from __future__ import annotations

from crm_contracts.identity import (InstanceCreated, InstanceMemberRemoved, InstanceMemberRoleChanged,
                                    InstanceRenamed, InvitationKind, InviteToInstance, PurchaseInstance,
                                    RemoveInstanceMember, RenameInstance, SetInstanceRole, Tier)
from crm_runtime.handlers import HandlerContext, Handlers, Rejected

from .. import repository
from ..domain.instances import OWNER_ROLE, check_mls, check_profile, new_instance
from .common import invite, join, load_account, managed_instance, who_can_sign_in
from .gate import permitted

handlers = Handlers()


@handlers.on(PurchaseInstance)
async def purchase_instance(ctx: HandlerContext, cmd: PurchaseInstance) -> None:
    await permitted(ctx, cmd.buyer_user_id, about_user_id=cmd.buyer_user_id)
    account = await load_account(ctx)
    if account.tier is not Tier.ENTERPRISE:
        raise Rejected("enterprise_required", "private instances are bought by members of Enterprise accounts")
    buyer = await who_can_sign_in(ctx, account, cmd.buyer_user_id)
    check_mls(cmd.package, cmd.mls_id)
    instance = new_instance(account.account_id, buyer.user_id, cmd.package, cmd.name, cmd.mls_id,
                            instance_id=ctx.derived_id("ins")[:20], website_id=ctx.derived_id("web")[:20])
    if not await repository.instances.insert_instance(ctx.conn, instance):
        owned = await repository.instances.owned_instance(ctx.conn, account.account_id, buyer.user_id)
        raise Rejected("instance_already_owned",
                       f"{buyer.user_id} already owns private instance {owned.instance_id if owned else ''}".strip())
    caps = instance.capabilities
    assert caps is not None
    await ctx.emit(InstanceCreated(instance_id=instance.instance_id, owner_user_id=buyer.user_id,
                                   package=instance.package, name=instance.name,
                                   parsing_email=instance.parsing_email, website_id=instance.website_id,
                                   routing=caps.routing, members_allowed=caps.members_allowed,
                                   mls_id=instance.mls_id),
                   subject=buyer.user_id, instanceid=instance.instance_id)
    await join(ctx, instance, buyer.user_id, OWNER_ROLE)


@handlers.on(RenameInstance)
async def rename_instance(ctx: HandlerContext, cmd: RenameInstance) -> None:
    instance = await managed_instance(ctx, cmd.instance_id, cmd.by_user_id)
    await repository.instances.rename_instance(ctx.conn, instance.instance_id, cmd.name)
    await ctx.emit(InstanceRenamed(instance_id=instance.instance_id, name=cmd.name), instanceid=instance.instance_id)


@handlers.on(InviteToInstance)
async def invite_to_instance(ctx: HandlerContext, cmd: InviteToInstance) -> None:
    account = await load_account(ctx)
    instance = await managed_instance(ctx, cmd.instance_id, cmd.by_user_id)
    instance.check_invitable()
    instance.check_accepts_members()
    check_profile(cmd.role)
    invitee = await who_can_sign_in(ctx, account, cmd.user_id)
    if await repository.instances.instance_role(ctx.conn, instance.instance_id, invitee.user_id) is not None:
        raise Rejected("already_instance_member", f"{invitee.user_id} is already a member of {instance.name}")
    pending = await repository.invitations.pending_instance_invitation(ctx.conn, instance.instance_id, invitee.user_id)
    if pending is not None and pending.expires_at > ctx.now():
        raise Rejected("already_invited", f"{invitee.user_id} has a pending invitation to {instance.name}")
    await invite(ctx, account, invitee, InvitationKind.INSTANCE, instance=instance, role=cmd.role)


@handlers.on(RemoveInstanceMember)
async def remove_instance_member(ctx: HandlerContext, cmd: RemoveInstanceMember) -> None:
    instance = await managed_instance(ctx, cmd.instance_id, cmd.by_user_id)
    if cmd.user_id == instance.owner_user_id:
        raise Rejected("cannot_remove_owner", "the owner cannot be removed from their instance")
    role = await repository.instances.remove_instance_member(ctx.conn, instance.instance_id, cmd.user_id)
    if role is None:
        raise Rejected("not_instance_member", f"{cmd.user_id} is not a member of {instance.name}")
    await ctx.emit(InstanceMemberRemoved(instance_id=instance.instance_id, user_id=cmd.user_id, role=role,
                                         reason="removed_by_owner" if cmd.by_user_id == instance.owner_user_id
                                         else "removed_by_admin"),
                   subject=cmd.user_id, instanceid=instance.instance_id)


@handlers.on(SetInstanceRole)
async def set_instance_role(ctx: HandlerContext, cmd: SetInstanceRole) -> None:
    instance = await managed_instance(ctx, cmd.instance_id, cmd.by_user_id)
    if cmd.user_id == instance.owner_user_id:
        raise Rejected("cannot_change_owner_role", "the owner's role is owner")
    check_profile(cmd.role)
    role = await repository.instances.instance_role(ctx.conn, instance.instance_id, cmd.user_id)
    if role is None:
        raise Rejected("not_instance_member", f"{cmd.user_id} is not a member of {instance.name}")
    await repository.instances.set_instance_role(ctx.conn, instance.instance_id, cmd.user_id, cmd.role)
    await ctx.emit(InstanceMemberRoleChanged(instance_id=instance.instance_id, user_id=cmd.user_id,
                                             from_role=role, role=cmd.role),
                   subject=cmd.user_id, instanceid=instance.instance_id)
