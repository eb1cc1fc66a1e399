"""What the identity handlers build on: loading what a command names (refused when it is not
there), moving a member with its event, inviting, joining an instance."""

from __future__ import annotations

from crm_contracts.identity import (Activation, InstanceMemberJoined, InvitationIssued, InvitationKind,
                                    MemberStatus, MemberStatusChanged, UserType)
from crm_runtime.handlers import HandlerContext, Rejected

from .. import repository
from ..domain.accounts import Account
from ..domain.instances import Instance, addresses, check_can_sign_in
from ..domain.invitations import State, issue
from ..domain.members import Member, Move
from ..settings import IdentitySettings
from .gate import permitted


async def load_account(ctx: HandlerContext, *, for_update: bool = True) -> Account:
    account = await repository.accounts.get_account(ctx.conn, ctx.message.accountid, for_update=for_update)
    if account is None:
        raise Rejected("unknown_account", f"account {ctx.message.accountid} does not exist")
    return account


async def load_member(ctx: HandlerContext, user_id: str) -> Member:
    member = await repository.accounts.get_member(ctx.conn, ctx.message.accountid, user_id, for_update=True)
    if member is None:
        raise Rejected("unknown_member", f"no member {user_id} in account {ctx.message.accountid}")
    return member


async def check_group(ctx: HandlerContext, group_id: str | None) -> None:
    if group_id is not None and await repository.accounts.get_group(ctx.conn, ctx.message.accountid, group_id) is None:
        raise Rejected("unknown_group", f"group {group_id} does not exist in account {ctx.message.accountid}")


async def move(ctx: HandlerContext, account: Account, member: Member, move: Move,
                activation: Activation | None = None, reason: str | None = None, *,
                by_user_id: str | None = None) -> Member:
    """Move the member and publish it, naming who acted (`by_user_id`: None when the platform did)."""
    moved = member.move(move, activation)
    await repository.accounts.save_member(ctx.conn, moved)
    await ctx.emit(MemberStatusChanged(user_id=member.user_id, instance_id=account.enterprise_instance_id,
                                       from_status=member.status, to_status=moved.status,
                                       reason=reason or move.value, by_user_id=by_user_id,
                                       move=move), subject=member.user_id)
    return moved


async def invite(ctx: HandlerContext, account: Account, member: Member, kind: InvitationKind, *,
                  instance: Instance | None = None, role: str | None = None) -> None:
    """Issue a fresh invitation; any earlier pending link of the member (to the account, or to
    `instance`) stops working."""
    settings: IdentitySettings = ctx.settings  # identity's Service is built with them
    instance_id = instance.instance_id if instance else None
    await repository.invitations.close_pending_invitations(ctx.conn, account.account_id, member.user_id, State.SUPERSEDED,
                                               instance_id=instance_id)
    invitation, token = issue(account.account_id, member.user_id, kind, ctx.now(), ttl=settings.invitation_ttl,
                              invitation_id=ctx.derived_id("inv", member.user_id, instance_id or ""),
                              instance_id=instance_id, role=role)
    await repository.invitations.insert_invitation(ctx.conn, invitation)
    await ctx.emit(InvitationIssued(
        user_id=member.user_id, invitation_id=invitation.invitation_id, kind=kind,
        accept_page_url=f"{settings.base_url()}/invitations/accept", sealed_token=settings.sealer.seal(token),
        expires_at=invitation.expires_at, email=member.email, first_name=member.first_name,
        last_name=member.last_name, account_name=account.name, instance_id=instance_id, role=role),
        subject=member.user_id, **({"instanceid": instance_id} if instance_id else {}))


async def load_person(ctx: HandlerContext, account: Account, user_id: str) -> Member:
    """A user of the account: a member, or the account's owner (who is not a `members` row)."""
    member = await repository.accounts.get_member(ctx.conn, account.account_id, user_id)
    if member is not None:
        return member
    if user_id == account.owner_user_id:
        return Member(account_id=account.account_id, user_id=user_id, email=account.owner_email,
                      first_name=account.owner_first_name, last_name=account.owner_last_name,
                      user_type=UserType.PLATFORM, activation=Activation.IMMEDIATE, status=MemberStatus.ACTIVE,
                      group_id=None, role="owner")
    raise Rejected("not_a_member", f"{user_id} is not a member of Enterprise account {account.account_id}")


async def who_can_sign_in(ctx: HandlerContext, account: Account, user_id: str) -> Member:
    person = await load_person(ctx, account, user_id)
    check_can_sign_in(user_id, person.user_type, person.status)
    return person


async def load_instance(ctx: HandlerContext, instance_id: str, *, for_update: bool = False) -> Instance:
    instance = await repository.instances.get_instance(ctx.conn, instance_id, for_update=for_update)
    if instance is None:
        raise Rejected("unknown_instance", f"no instance {instance_id}")
    if instance.account_id != ctx.message.accountid:  # records stay in their account
        raise Rejected("not_in_account", f"instance {instance_id} is not of account {ctx.message.accountid}")
    return instance


async def managed_instance(ctx: HandlerContext, instance_id: str, by_user_id: str | None) -> Instance:
    """The private instance, locked, once `by_user_id` may manage it (the policy: its owner or an
    admin member, while they can sign in)."""
    instance = await load_instance(ctx, instance_id, for_update=True)
    if instance.kind != "private":
        raise Rejected("not_a_private_instance", f"{instance_id} is not a private instance")
    await permitted(ctx, by_user_id, instance=instance)
    instance.check_open()
    return instance


async def join(ctx: HandlerContext, instance: Instance, user_id: str, role: str) -> None:
    sending, capture = addresses(user_id, instance.instance_id)
    if await repository.instances.add_instance_member(ctx.conn, instance, user_id, role, sending, capture):
        await ctx.emit(InstanceMemberJoined(instance_id=instance.instance_id, user_id=user_id, role=role,
                                            sending_email=sending, capture_email=capture),
                       subject=user_id, instanceid=instance.instance_id)
