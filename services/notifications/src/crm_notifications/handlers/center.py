"""The notification center: seats and leads told to whom they concern, sessions and reading."""

from __future__ import annotations

from crm_contracts.notifications import (
    ReadNotifications,
    SessionChanged,
    SetSession,
)
from crm_contracts.routing import LeadAssigned, LeadOffered, LeadReassigned
from crm_contracts.seats import SeatReleased, SeatReserved
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository
from ..gate import permitted as _permitted

from .common import notify, notify_owner, unread_changed

handlers = Handlers()


# --- the notification center ----------------------------------------------------------------------


@handlers.on(SeatReserved)
async def seat_reserved(ctx: HandlerContext, event: SeatReserved) -> None:
    if event.account_owner:
        return  # the owner's own seat comes with the plan they chose: nothing to tell them
    await notify_owner(ctx, "seat_reserved", f"{event.user_id} took a seat",
                        f"{event.seats_used} of {event.seats_total} seats are in use.")


@handlers.on(SeatReleased)
async def seat_released(ctx: HandlerContext, event: SeatReleased) -> None:
    await notify_owner(ctx, "seat_released", f"{event.user_id} gave a seat back",
                        f"{event.seats_used} of {event.seats_total} seats are in use.")


@handlers.on(LeadAssigned)
async def lead_assigned(ctx: HandlerContext, event: LeadAssigned) -> None:
    await notify(ctx, event.user_id, event.instance_id, "lead_assigned", "New lead assigned to you",
                  f"Lead {event.lead_id} ({event.strategy}).", path=f"/leads/{event.lead_id}")


@handlers.on(LeadOffered)
async def lead_offered(ctx: HandlerContext, event: LeadOffered) -> None:
    for user_id in event.user_ids:
        await notify(ctx, user_id, event.instance_id, "lead_offered", "New lead: the first to claim it gets it",
                      f"Lead {event.lead_id} is offered to {len(event.user_ids)} agents.", path=f"/leads/{event.lead_id}")


@handlers.on(LeadReassigned)
async def lead_reassigned(ctx: HandlerContext, event: LeadReassigned) -> None:
    why = ("was given to you by hand" if event.reason == "assigned_by_hand"
           else f"passed to you: {event.from_user_id} did not claim it in time")
    await notify(ctx, event.to_user_id, event.instance_id, "lead_assigned", "New lead assigned to you",
                  f"Lead {event.lead_id} {why}.", path=f"/leads/{event.lead_id}")


@handlers.on(SetSession)
async def set_session(ctx: HandlerContext, cmd: SetSession) -> None:
    await _permitted(ctx, None)
    await repository.center.set_session(ctx.conn, cmd.user_id, cmd.device_id, cmd.device.value, cmd.instance_id)
    await ctx.emit(SessionChanged(**cmd.model_dump()), subject=cmd.user_id, instanceid=cmd.instance_id)


@handlers.on(ReadNotifications)
async def read_notifications(ctx: HandlerContext, cmd: ReadNotifications) -> None:
    await _permitted(ctx, cmd.user_id, about_user_id=cmd.user_id)
    if cmd.instance_id is not None:
        await repository.center.mark_all_read(ctx.conn, cmd.user_id, cmd.instance_id)
    else:
        await repository.center.mark_read(ctx.conn, cmd.user_id, cmd.notification_ids)
    await unread_changed(ctx, cmd.user_id)
