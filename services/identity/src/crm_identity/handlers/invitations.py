"""Invitations: sent again, accepted by their link, or joined from the instance page."""

from __future__ import annotations

from crm_contracts.identity import (AcceptInvitation, InvitationAccepted, InvitationKind, JoinInstance, MemberStatus,
                                    ResendInvitation)
from crm_runtime.handlers import HandlerContext, Handlers, Rejected

from .. import repository
from ..domain.invitations import Invitation, hash_token
from ..domain.members import Move
from .common import invite, join, load_account, load_instance, load_member, load_person, move
from .gate import permitted

handlers = Handlers()


@handlers.on(ResendInvitation)
async def resend_invitation(ctx: HandlerContext, cmd: ResendInvitation) -> None:
    await permitted(ctx, cmd.by_user_id)
    account = await load_account(ctx)
    member = await load_member(ctx, cmd.user_id)
    kinds = {MemberStatus.PENDING_OPT_IN: InvitationKind.OPT_IN,
             MemberStatus.PENDING_ACTIVATION: InvitationKind.STANDARD}
    if member.status not in kinds:
        raise Rejected("nothing_to_resend", f"member {member.user_id} is {member.status.value}; no invitation is due")
    await invite(ctx, account, member, kinds[member.status])


async def accept(ctx: HandlerContext, invitation: Invitation) -> None:
    invitation.accept(ctx.now())
    account = await load_account(ctx)
    if invitation.kind is InvitationKind.INSTANCE:
        assert invitation.instance_id is not None and invitation.role is not None
        person = await load_person(ctx, account, invitation.user_id)
        instance = await load_instance(ctx, invitation.instance_id)
        instance.check_invitable()
        await repository.invitations.mark_accepted(ctx.conn, invitation)
        await ctx.emit(InvitationAccepted(user_id=person.user_id, invitation_id=invitation.invitation_id,
                                          kind=invitation.kind), subject=person.user_id,
                       instanceid=invitation.instance_id)
        await join(ctx, instance, person.user_id, invitation.role)
        return
    member = await load_member(ctx, invitation.user_id)
    await repository.invitations.mark_accepted(ctx.conn, invitation)
    await ctx.emit(InvitationAccepted(user_id=member.user_id, invitation_id=invitation.invitation_id,
                                      kind=invitation.kind), subject=member.user_id)
    if invitation.kind is InvitationKind.OPT_IN:
        await move(ctx, account, member, Move.OPT_IN_ACCEPTED, by_user_id=member.user_id)


@handlers.on(AcceptInvitation)
async def accept_invitation(ctx: HandlerContext, cmd: AcceptInvitation) -> None:
    invitation = await repository.invitations.invitation_by_hash(ctx.conn, hash_token(cmd.token), for_update=True)
    if invitation is None or invitation.account_id != ctx.message.accountid:
        raise Rejected("invitation_not_found", "this invitation link is not valid")
    await accept(ctx, invitation)


@handlers.on(JoinInstance)
async def join_instance(ctx: HandlerContext, cmd: JoinInstance) -> None:
    await permitted(ctx, cmd.user_id, instance=await load_instance(ctx, cmd.instance_id), about_user_id=cmd.user_id)
    invitation = await repository.invitations.pending_instance_invitation(ctx.conn, cmd.instance_id, cmd.user_id)
    if invitation is None:
        raise Rejected("not_invited", f"{cmd.user_id} has no pending invitation to {cmd.instance_id}")
    await accept(ctx, invitation)
