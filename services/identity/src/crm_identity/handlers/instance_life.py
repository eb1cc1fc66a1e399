"""A private instance's life after purchase: frozen when its owner is deactivated, handed to
another member, cancelled."""

from __future__ import annotations

from datetime import timedelta

from crm_contracts.identity import (CancelInstance, InstanceCancelled, InstanceFrozen, InstanceMemberRemoved,
                                    InstanceMemberRoleChanged, InstanceOwnershipTransferred,
                                    TransferInstanceOwnership)
from crm_runtime.handlers import HandlerContext, Handlers, Rejected

from .. import repository
from ..domain.accounts import Account
from ..domain.instances import ADMIN, OWNER_ROLE, READ_ONLY_DAYS, Instance, InstanceError, check_can_sign_in
from .common import join, load_account, load_instance, load_person, who_can_sign_in
from .gate import permitted

handlers = Handlers()


async def _open_private(ctx: HandlerContext, instance_id: str) -> Instance:
    instance = await load_instance(ctx, instance_id, for_update=True)
    if instance.kind != "private":
        raise Rejected("not_a_private_instance", f"{instance_id} is not a private instance")
    instance.check_open()
    return instance


async def freeze_owned_instance(ctx: HandlerContext, account: Account, user_id: str) -> None:
    """The deactivated user's instance stops taking members until an account admin decides."""
    owned = await repository.instances.owned_instance(ctx.conn, account.account_id, user_id)
    if owned is None or owned.status != "active":
        return
    await repository.instances.set_instance_status(ctx.conn, owned.instance_id, "frozen")
    await repository.instances.revoke_instance_invitations(ctx.conn, owned.instance_id)
    await ctx.emit(InstanceFrozen(instance_id=owned.instance_id, owner_user_id=user_id),
                   subject=user_id, instanceid=owned.instance_id)


@handlers.on(TransferInstanceOwnership)
async def transfer_ownership(ctx: HandlerContext, cmd: TransferInstanceOwnership) -> None:
    account = await load_account(ctx)
    instance = await _open_private(ctx, cmd.instance_id)
    await permitted(ctx, cmd.by_user_id, instance=instance)
    heir = await who_can_sign_in(ctx, account, cmd.to_user_id)
    previous = instance.owner_user_id
    if heir.user_id == previous:  # handed back to an owner who can run it again
        if instance.status != "frozen":
            raise Rejected("already_owner", f"{heir.user_id} owns {instance.instance_id} already")
        await repository.instances.set_instance_status(ctx.conn, instance.instance_id, "active")
    elif not await repository.instances.hand_over(ctx.conn, instance, heir.user_id):
        owned = await repository.instances.owned_instance(ctx.conn, account.account_id, heir.user_id)
        raise Rejected("instance_already_owned", f"{heir.user_id} already owns private instance "
                                                 f"{owned.instance_id if owned else ''}".strip())
    await ctx.emit(InstanceOwnershipTransferred(instance_id=instance.instance_id, from_user_id=previous,
                                                to_user_id=heir.user_id, by_user_id=cmd.by_user_id),
                   subject=heir.user_id, instanceid=instance.instance_id)
    if heir.user_id != previous:
        await _seat(ctx, instance, heir.user_id, OWNER_ROLE)
        await _step_down(ctx, account, instance, previous)


async def _seat(ctx: HandlerContext, instance: Instance, user_id: str, role: str) -> None:
    """Give a user `role` in the instance, joining them first if they are not a member."""
    had = await repository.instances.instance_role(ctx.conn, instance.instance_id, user_id)
    if had is None:
        return await join(ctx, instance, user_id, role)
    await repository.instances.set_instance_role(ctx.conn, instance.instance_id, user_id, role)
    await ctx.emit(InstanceMemberRoleChanged(instance_id=instance.instance_id, user_id=user_id, from_role=had,
                                             role=role), subject=user_id, instanceid=instance.instance_id)


async def _step_down(ctx: HandlerContext, account: Account, instance: Instance, user_id: str) -> None:
    """The former owner stays as an admin when they can sign in; a deactivated one leaves."""
    person = await load_person(ctx, account, user_id)
    try:
        check_can_sign_in(user_id, person.user_type, person.status)
    except InstanceError:  # they cannot sign in
        role = await repository.instances.remove_instance_member(ctx.conn, instance.instance_id, user_id)
        if role is not None:
            await ctx.emit(InstanceMemberRemoved(instance_id=instance.instance_id, user_id=user_id, role=role,
                                                 reason="ownership_transferred"),
                           subject=user_id, instanceid=instance.instance_id)
        return
    await _seat(ctx, instance, user_id, ADMIN)


@handlers.on(CancelInstance)
async def cancel_instance(ctx: HandlerContext, cmd: CancelInstance) -> None:
    await load_account(ctx)  # the account row lock orders this against the account's other commands
    instance = await _open_private(ctx, cmd.instance_id)
    await permitted(ctx, cmd.by_user_id, instance=instance)
    until = ctx.now() + timedelta(days=READ_ONLY_DAYS)
    await repository.instances.set_instance_status(ctx.conn, instance.instance_id, "cancelled", until)
    await repository.instances.revoke_instance_invitations(ctx.conn, instance.instance_id)
    await ctx.emit(InstanceCancelled(instance_id=instance.instance_id, by_user_id=cmd.by_user_id,
                                     read_only_until=until), instanceid=instance.instance_id)
