"""The e-mails: invitations, the owner's upgrade and seat alerts, and the templates admins set."""

from __future__ import annotations

from crm_contracts.identity import (
    InvitationIssued,
    InvitationKind,
    OwnerAlerted,
)
from crm_contracts.notifications import (
    ResetTemplate,
    SetTemplate,
    TemplateChanged,
)
from crm_contracts.seats import AccountUpgraded, ChargeCreated
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository
from ..gate import permitted as _permitted
from ..domain.templates import DEFAULTS, TOKEN_SLOT, check

from .common import TEMPLATE_OF_KIND, send_email, notify, notify_owner

handlers = Handlers()


# --- e-mail -----------------------------------------------------------------------------------


@handlers.on(InvitationIssued)
async def invitation_issued(ctx: HandlerContext, event: InvitationIssued) -> None:
    instance_name = await repository.accounts.instance_name(ctx.conn, ctx.message.instanceid or "")
    await send_email(ctx, TEMPLATE_OF_KIND[event.kind], event.email, {
        "first_name": event.first_name or "", "last_name": event.last_name or "", "email": event.email,
        "account_name": event.account_name or "", "accept_url": f"{event.accept_page_url}?token={TOKEN_SLOT}",
        "expires_at": event.expires_at.strftime("%B %-d, %Y at %H:%M UTC"), "instance_name": instance_name},
        sealed_token=event.sealed_token)
    if event.kind is InvitationKind.INSTANCE and ctx.message.instanceid:
        await notify(ctx, event.user_id, ctx.message.instanceid, "instance_invitation",
                      f"You are invited to join {instance_name}", "Open the invitation e-mail to join.")


@handlers.on(AccountUpgraded)
async def account_upgraded(ctx: HandlerContext, event: AccountUpgraded) -> None:
    if event.reason == "account_owner":
        # The owner's own seat comes with the subscription they chose: an item in the center, no
        # e-mail about someone else's acceptance (its charge is on the invoice).
        await notify_owner(ctx, "seats_upgraded", f"Seats upgraded to {event.to_total}",
                            "Your own seat was added: the account's owner sits in one of its seats.")
        return
    await repository.accounts.record_upgrade(ctx.conn, ctx.message.causationid or ctx.message.id, event.model_dump())
    await notify_owner(ctx, "seats_upgraded", f"Seats upgraded to {event.to_total}",
                        f"{event.user_id} accepted an invitation with no free seat; one seat was added.")


@handlers.on(ChargeCreated)
async def charge_created(ctx: HandlerContext, event: ChargeCreated) -> None:
    """The owner's upgrade e-mail goes out with the charge, which follows the upgrade it pays for.
    Purchases and renewals of items (`item` set) share a cause with an upgrade at times (a renewal
    made by the acceptance that upgraded): they are not its charge."""
    if event.item is not None:
        return
    account = await repository.accounts.get_account(ctx.conn, ctx.message.accountid)
    upgrade = await repository.accounts.upgrade_caused_by(ctx.conn, ctx.message.causationid or "")
    if account is None or account["owner_email"] is None or upgrade is None:
        return
    await send_email(ctx, "seat_upgrade", account["owner_email"], {
        "account_name": account["name"] or account["account_id"], "first_name": account["owner_first_name"] or "",
        "seats_total": upgrade["to_total"], "from_total": upgrade["from_total"],
        "member_user_id": upgrade["user_id"], "amount": f"{event.amount_cents / 100:.2f} {event.currency}",
        "days_remaining": event.proration.days_remaining, "days_in_period": event.proration.days_in_period,
        "period_end": event.period_end.isoformat()})


@handlers.on(OwnerAlerted)
async def owner_alerted(ctx: HandlerContext, event: OwnerAlerted) -> None:
    """A member left without a seat (AO10): the owner and every active account admin get one e-mail
    and one notification-center item each."""
    account = await repository.accounts.get_account(ctx.conn, ctx.message.accountid)
    if account is None or event.user_id is None:
        return
    people = {event.owner_user_id: (event.owner_email, account["owner_first_name"])}
    for admin in await repository.accounts.account_admins(ctx.conn, account["account_id"]):
        people.setdefault(admin["user_id"], (admin["email"], admin["first_name"]))
    member = event.member_name or event.user_id
    for user_id, (email, first_name) in people.items():
        await send_email(ctx, "seat_unavailable", email, {
            "account_name": account["name"] or account["account_id"], "first_name": first_name or "",
            "member_name": member, "member_user_id": event.user_id, "reason": event.alert,
            "seats_used": "?" if event.seats_used is None else event.seats_used,
            "seats_total": "?" if event.seats_total is None else event.seats_total})
        await notify(ctx, user_id, account["enterprise_instance_id"], "seat_unavailable",
                      f"{member} is waiting for a seat", event.message)


@handlers.on(ResetTemplate)
async def reset_template(ctx: HandlerContext, cmd: ResetTemplate) -> None:
    await _permitted(ctx, cmd.by_user_id)
    await repository.emails.reset_template(ctx.conn, ctx.message.accountid, cmd.template.value)
    await ctx.emit(TemplateChanged(template=cmd.template, subject=DEFAULTS[cmd.template.value].subject, custom=False))


@handlers.on(SetTemplate)
async def set_template(ctx: HandlerContext, cmd: SetTemplate) -> None:
    await _permitted(ctx, cmd.by_user_id)
    template = check(cmd.template.value, cmd.subject, cmd.body)
    await repository.emails.set_template(ctx.conn, ctx.message.accountid, cmd.template.value, template)
    await ctx.emit(TemplateChanged(template=cmd.template, subject=cmd.subject))
