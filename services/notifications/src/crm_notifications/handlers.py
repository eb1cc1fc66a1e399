"""One function per command or event the notifications service acts on."""

from __future__ import annotations

from crm_contracts.identity import (
    AccountCreated,
    InstanceCancelled,
    InstanceCreated,
    InstanceFrozen,
    InstanceMemberJoined,
    InstanceRenamed,
    InstanceMemberRemoved,
    InstanceOwnershipTransferred,
    InvitationIssued,
    InvitationKind,
    MemberAdded,
    MemberDetailsChanged,
    MemberStatusChanged,
    OwnerAlerted,
)
from crm_contracts.notifications import (
    ReadNotifications,
    ResetTemplate,
    SessionChanged,
    SetSession,
    SetTemplate,
    TemplateChanged,
    UnreadChanged,
)
from crm_contracts.routing import LeadAssigned, LeadOffered, LeadReassigned
from crm_contracts.seats import AccountUpgraded, ChargeCreated, SeatReleased, SeatReserved
from crm_runtime.handlers import HandlerContext, Handlers

from . import repository
from .gate import permitted as _permitted
from .domain.push import devices_to_push
from .domain.templates import DEFAULTS, TOKEN_SLOT, check, render

handlers = Handlers()

TEMPLATE_OF_KIND = {
    InvitationKind.OPT_IN: "opt_in_invitation",
    InvitationKind.STANDARD: "standard_invitation",
    InvitationKind.INSTANCE: "instance_invitation",
}


# --- building blocks ------------------------------------------------------------------------


async def _email(ctx: HandlerContext, template_name: str, to: str, values: dict, sealed_token: str | None = None) -> None:
    template = await repository.template_for(ctx.conn, ctx.message.accountid, template_name)
    subject, html = render(template, values)
    await repository.queue_email(ctx.conn, account_id=ctx.message.accountid, template=template_name, to=to,
                                 subject=subject, html=html, cause=ctx.message, sealed_token=sealed_token)


async def _notify(ctx: HandlerContext, user_id: str, instance_id: str, kind: str, title: str, body: str,
                  path: str = "/notifications") -> None:
    """File a notification in the instance it concerns (`path`: where clicking it leads there), queue
    its pushes, publish unread counts."""
    filed = await repository.file_notification(
        ctx.conn, notification_id=ctx.derived_id("ntf", user_id, instance_id, kind),
        account_id=ctx.message.accountid, user_id=user_id, instance_id=instance_id, kind=kind,
        title=title, body=body, cause=ctx.message, path=path)
    await repository.queue_pushes(ctx.conn, filed, devices_to_push(instance_id, filed.sessions), user_id=user_id,
                                  instance_id=instance_id, title=title, body=body, cause=ctx.message, path=path)
    await _unread(ctx, user_id, filed.unread)


async def _unread_changed(ctx: HandlerContext, user_id: str) -> None:
    await _unread(ctx, user_id, await repository.unread_counts(ctx.conn, user_id))


async def _unread(ctx: HandlerContext, user_id: str, counts: dict[str, int]) -> None:
    await ctx.emit(UnreadChanged(user_id=user_id, counts=counts), subject=user_id, instanceid=None)


async def _notify_owner(ctx: HandlerContext, kind: str, title: str, body: str) -> None:
    account = await repository.get_account(ctx.conn, ctx.message.accountid)
    if account is not None:
        await _notify(ctx, account["owner_user_id"], account["enterprise_instance_id"], kind, title, body)


# --- who is where (identity's events) ----------------------------------------------------------


@handlers.on(AccountCreated)
async def account_created(ctx: HandlerContext, event: AccountCreated) -> None:
    await repository.record_account(ctx.conn, event)


@handlers.on(InstanceCreated)
async def instance_created(ctx: HandlerContext, event: InstanceCreated) -> None:
    await repository.upsert_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.name)
    await repository.add_instance_member(ctx.conn, event.instance_id, event.owner_user_id)


@handlers.on(InstanceRenamed)
async def instance_renamed(ctx: HandlerContext, event: InstanceRenamed) -> None:
    """Later e-mails and pushes name the instance as its owner calls it now."""
    await repository.upsert_instance(ctx.conn, event.instance_id, ctx.message.accountid, event.name)


@handlers.on(InstanceMemberJoined)
async def member_joined(ctx: HandlerContext, event: InstanceMemberJoined) -> None:
    await repository.add_instance_member(ctx.conn, event.instance_id, event.user_id)


@handlers.on(InstanceMemberRemoved)
async def member_removed(ctx: HandlerContext, event: InstanceMemberRemoved) -> None:
    await repository.remove_instance_member(ctx.conn, event.instance_id, event.user_id)


@handlers.on(MemberAdded)
async def member_added(ctx: HandlerContext, event: MemberAdded) -> None:
    if ctx.message.instanceid:
        await repository.add_instance_member(ctx.conn, ctx.message.instanceid, event.user_id)
    await repository.record_member(ctx.conn, ctx.message.accountid, event.user_id, event.email, event.first_name,
                                   event.administers_account, event.status.value)


@handlers.on(MemberDetailsChanged)
async def member_details_changed(ctx: HandlerContext, event: MemberDetailsChanged) -> None:
    await repository.set_member_details(ctx.conn, ctx.message.accountid, event.user_id, event.email, event.first_name,
                                        event.administers_account)


@handlers.on(MemberStatusChanged)
async def member_status_changed(ctx: HandlerContext, event: MemberStatusChanged) -> None:
    await repository.set_member_status(ctx.conn, ctx.message.accountid, event.user_id, event.to_status.value)


# --- e-mail -----------------------------------------------------------------------------------


@handlers.on(InvitationIssued)
async def invitation_issued(ctx: HandlerContext, event: InvitationIssued) -> None:
    instance_name = await repository.instance_name(ctx.conn, ctx.message.instanceid or "")
    await _email(ctx, TEMPLATE_OF_KIND[event.kind], event.email, {
        "first_name": event.first_name or "", "last_name": event.last_name or "", "email": event.email,
        "account_name": event.account_name or "", "accept_url": f"{event.accept_page_url}?token={TOKEN_SLOT}",
        "expires_at": event.expires_at.strftime("%B %-d, %Y at %H:%M UTC"), "instance_name": instance_name},
        sealed_token=event.sealed_token)
    if event.kind is InvitationKind.INSTANCE and ctx.message.instanceid:
        await _notify(ctx, event.user_id, ctx.message.instanceid, "instance_invitation",
                      f"You are invited to join {instance_name}", "Open the invitation e-mail to join.")


@handlers.on(AccountUpgraded)
async def account_upgraded(ctx: HandlerContext, event: AccountUpgraded) -> None:
    if event.reason == "account_owner":
        # The owner's own seat comes with the subscription they chose: an item in the center, no
        # e-mail about someone else's acceptance (its charge is on the invoice).
        await _notify_owner(ctx, "seats_upgraded", f"Seats upgraded to {event.to_total}",
                            "Your own seat was added: the account's owner sits in one of its seats.")
        return
    await repository.record_upgrade(ctx.conn, ctx.message.causationid or ctx.message.id, event.model_dump())
    await _notify_owner(ctx, "seats_upgraded", f"Seats upgraded to {event.to_total}",
                        f"{event.user_id} accepted an invitation with no free seat; one seat was added.")


@handlers.on(ChargeCreated)
async def charge_created(ctx: HandlerContext, event: ChargeCreated) -> None:
    """The owner's upgrade e-mail goes out with the charge, which follows the upgrade it pays for.
    Purchases and renewals of items (`item` set) share a cause with an upgrade at times (a renewal
    made by the acceptance that upgraded): they are not its charge."""
    if event.item is not None:
        return
    account = await repository.get_account(ctx.conn, ctx.message.accountid)
    upgrade = await repository.upgrade_caused_by(ctx.conn, ctx.message.causationid or "")
    if account is None or account["owner_email"] is None or upgrade is None:
        return
    await _email(ctx, "seat_upgrade", account["owner_email"], {
        "account_name": account["name"] or account["account_id"], "first_name": account["owner_first_name"] or "",
        "seats_total": upgrade["to_total"], "from_total": upgrade["from_total"],
        "member_user_id": upgrade["user_id"], "amount": f"{event.amount_cents / 100:.2f} {event.currency}",
        "days_remaining": event.proration.days_remaining, "days_in_period": event.proration.days_in_period,
        "period_end": event.period_end.isoformat()})


@handlers.on(OwnerAlerted)
async def owner_alerted(ctx: HandlerContext, event: OwnerAlerted) -> None:
    """A member left without a seat (AO10): the owner and every active account admin get one e-mail
    and one notification-center item each."""
    account = await repository.get_account(ctx.conn, ctx.message.accountid)
    if account is None or event.user_id is None:
        return
    people = {event.owner_user_id: (event.owner_email, account["owner_first_name"])}
    for admin in await repository.account_admins(ctx.conn, account["account_id"]):
        people.setdefault(admin["user_id"], (admin["email"], admin["first_name"]))
    member = event.member_name or event.user_id
    for user_id, (email, first_name) in people.items():
        await _email(ctx, "seat_unavailable", email, {
            "account_name": account["name"] or account["account_id"], "first_name": first_name or "",
            "member_name": member, "member_user_id": event.user_id, "reason": event.alert,
            "seats_used": "?" if event.seats_used is None else event.seats_used,
            "seats_total": "?" if event.seats_total is None else event.seats_total})
        await _notify(ctx, user_id, account["enterprise_instance_id"], "seat_unavailable",
                      f"{member} is waiting for a seat", event.message)


# --- an instance's life after purchase: told in the account's own instance, where all can see ---


async def _notify_in_account(ctx: HandlerContext, user_ids: list[str], kind: str, title: str, body: str) -> None:
    account = await repository.get_account(ctx.conn, ctx.message.accountid)
    if account is not None:
        for user_id in dict.fromkeys(user_ids):
            await _notify(ctx, user_id, account["enterprise_instance_id"], kind, title, body)


@handlers.on(InstanceFrozen)
async def instance_frozen(ctx: HandlerContext, event: InstanceFrozen) -> None:
    """The account's owner and active admins decide what happens to it."""
    account = await repository.get_account(ctx.conn, ctx.message.accountid)
    if account is None:
        return
    admins = [account["owner_user_id"]] + [a["user_id"] for a in await repository.account_admins(
        ctx.conn, account["account_id"])]
    name = await repository.instance_name(ctx.conn, event.instance_id)
    await _notify_in_account(ctx, admins, "instance_frozen", f"{name} is frozen",
                             f"Its owner {event.owner_user_id} was deactivated. Hand it to another member "
                             "or cancel it; until then it takes no new members.")


@handlers.on(InstanceOwnershipTransferred)
async def instance_handed_over(ctx: HandlerContext, event: InstanceOwnershipTransferred) -> None:
    name = await repository.instance_name(ctx.conn, event.instance_id)
    await _notify_in_account(ctx, [event.to_user_id], "instance_ownership", f"You own {name} now",
                             f"{name} was handed to you (it was {event.from_user_id}'s).")


@handlers.on(InstanceCancelled)
async def instance_cancelled(ctx: HandlerContext, event: InstanceCancelled) -> None:
    """Every member is told; the instance's leads stay readable until the date given."""
    name = await repository.instance_name(ctx.conn, event.instance_id)
    await _notify_in_account(ctx, await repository.instance_member_ids(ctx.conn, event.instance_id),
                             "instance_cancelled", f"{name} was cancelled",
                             f"Its leads can be read until {event.read_only_until.date().isoformat()}; "
                             "nothing new comes in.")


@handlers.on(ResetTemplate)
async def reset_template(ctx: HandlerContext, cmd: ResetTemplate) -> None:
    await _permitted(ctx, cmd.by_user_id)
    await repository.reset_template(ctx.conn, ctx.message.accountid, cmd.template.value)
    await ctx.emit(TemplateChanged(template=cmd.template, subject=DEFAULTS[cmd.template.value].subject, custom=False))


@handlers.on(SetTemplate)
async def set_template(ctx: HandlerContext, cmd: SetTemplate) -> None:
    await _permitted(ctx, cmd.by_user_id)
    template = check(cmd.template.value, cmd.subject, cmd.body)
    await repository.set_template(ctx.conn, ctx.message.accountid, cmd.template.value, template)
    await ctx.emit(TemplateChanged(template=cmd.template, subject=cmd.subject))


# --- the notification center ----------------------------------------------------------------------


@handlers.on(SeatReserved)
async def seat_reserved(ctx: HandlerContext, event: SeatReserved) -> None:
    if event.account_owner:
        return  # the owner's own seat comes with the plan they chose: nothing to tell them
    await _notify_owner(ctx, "seat_reserved", f"{event.user_id} took a seat",
                        f"{event.seats_used} of {event.seats_total} seats are in use.")


@handlers.on(SeatReleased)
async def seat_released(ctx: HandlerContext, event: SeatReleased) -> None:
    await _notify_owner(ctx, "seat_released", f"{event.user_id} gave a seat back",
                        f"{event.seats_used} of {event.seats_total} seats are in use.")


@handlers.on(LeadAssigned)
async def lead_assigned(ctx: HandlerContext, event: LeadAssigned) -> None:
    await _notify(ctx, event.user_id, event.instance_id, "lead_assigned", "New lead assigned to you",
                  f"Lead {event.lead_id} ({event.strategy}).", path=f"/leads/{event.lead_id}")


@handlers.on(LeadOffered)
async def lead_offered(ctx: HandlerContext, event: LeadOffered) -> None:
    for user_id in event.user_ids:
        await _notify(ctx, user_id, event.instance_id, "lead_offered", "New lead: the first to claim it gets it",
                      f"Lead {event.lead_id} is offered to {len(event.user_ids)} agents.", path=f"/leads/{event.lead_id}")


@handlers.on(LeadReassigned)
async def lead_reassigned(ctx: HandlerContext, event: LeadReassigned) -> None:
    why = ("was given to you by hand" if event.reason == "assigned_by_hand"
           else f"passed to you: {event.from_user_id} did not claim it in time")
    await _notify(ctx, event.to_user_id, event.instance_id, "lead_assigned", "New lead assigned to you",
                  f"Lead {event.lead_id} {why}.", path=f"/leads/{event.lead_id}")


@handlers.on(SetSession)
async def set_session(ctx: HandlerContext, cmd: SetSession) -> None:
    await _permitted(ctx, None)
    await repository.set_session(ctx.conn, cmd.user_id, cmd.device_id, cmd.device.value, cmd.instance_id)
    await ctx.emit(SessionChanged(**cmd.model_dump()), subject=cmd.user_id, instanceid=cmd.instance_id)


@handlers.on(ReadNotifications)
async def read_notifications(ctx: HandlerContext, cmd: ReadNotifications) -> None:
    await _permitted(ctx, cmd.user_id, about_user_id=cmd.user_id)
    if cmd.instance_id is not None:
        await repository.mark_all_read(ctx.conn, cmd.user_id, cmd.instance_id)
    else:
        await repository.mark_read(ctx.conn, cmd.user_id, cmd.notification_ids)
    await _unread_changed(ctx, cmd.user_id)
