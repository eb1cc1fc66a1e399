"""The seats service's answers to a member waiting for a seat.

An answer changes one member: the member's row lock orders it against that member's commands, and
the account is only read. Locking the account too (as commands that add members must) made every
answer wait for the batch of commands in flight for the same account — in `make bench`'s
acceptances half of identity's database time was that wait."""

from __future__ import annotations

from crm_contracts.identity import Activation, InvitationKind, MemberStatus, MemberStatusChanged, OwnerAlerted
from crm_contracts.seats import SeatDenied, SeatReserved
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository
from ..domain.members import Move
from .common import invite, load_account, move

handlers = Handlers()


@handlers.on(SeatReserved)
async def seat_reserved(ctx: HandlerContext, event: SeatReserved) -> None:
    account = await load_account(ctx, for_update=False)
    member = await repository.accounts.get_member(ctx.conn, account.account_id, event.user_id, for_update=True)
    if member is None:
        return
    if member.status is MemberStatus.INACTIVE:
        # Deactivated while the seat was on its way: say so again, and seats gives it back.
        await ctx.emit(MemberStatusChanged(user_id=member.user_id, instance_id=account.enterprise_instance_id,
                                           from_status=member.status, to_status=member.status,
                                           reason="seat_not_needed"), subject=member.user_id)
        return
    if member.status is not MemberStatus.PENDING_SEAT:
        return  # already moved on; this reservation was answered before
    moved = await move(ctx, account, member, Move.SEAT_RESERVED)
    if moved.activation is Activation.IMMEDIATE:
        await invite(ctx, account, moved, InvitationKind.STANDARD)


@handlers.on(SeatDenied)
async def seat_denied(ctx: HandlerContext, event: SeatDenied) -> None:
    account = await load_account(ctx, for_update=False)
    member = await repository.accounts.get_member(ctx.conn, account.account_id, event.user_id, for_update=True)
    if member is None or member.status is not MemberStatus.PENDING_SEAT:
        return
    await move(ctx, account, member, Move.SEAT_DENIED, reason=event.reason)
    await ctx.emit(OwnerAlerted(
        owner_user_id=account.owner_user_id, owner_email=account.owner_email, alert=event.reason,
        user_id=member.user_id, member_name=f"{member.first_name} {member.last_name}",
        seats_used=event.seats_used, seats_total=event.seats_total,
        message=f"{member.first_name} {member.last_name} was added but no seat is free; "
                "buy seats, then reactivate the member."))
