"""What the handlers build on: filing a notification (and its pushes and counts), queueing an e-mail."""

from __future__ import annotations

from crm_contracts.identity import (
    InvitationKind,
)
from crm_contracts.notifications import (
    UnreadChanged,
)
from crm_runtime.handlers import HandlerContext

from .. import repository
from ..domain.push import devices_to_push
from ..domain.templates import render

TEMPLATE_OF_KIND = {
    InvitationKind.OPT_IN: "opt_in_invitation",
    InvitationKind.STANDARD: "standard_invitation",
    InvitationKind.INSTANCE: "instance_invitation",
}


# --- building blocks ------------------------------------------------------------------------


async def send_email(ctx: HandlerContext, template_name: str, to: str, values: dict, sealed_token: str | None = None) -> None:
    template = await repository.emails.template_for(ctx.conn, ctx.message.accountid, template_name)
    subject, html = render(template, values)
    await repository.emails.queue_email(ctx.conn, account_id=ctx.message.accountid, template=template_name, to=to,
                                 subject=subject, html=html, cause=ctx.message, sealed_token=sealed_token)


async def notify(ctx: HandlerContext, user_id: str, instance_id: str, kind: str, title: str, body: str,
                  path: str = "/notifications") -> None:
    """File a notification in the instance it concerns (`path`: where clicking it leads there), queue
    its pushes, publish unread counts."""
    filed = await repository.center.file_notification(
        ctx.conn, notification_id=ctx.derived_id("ntf", user_id, instance_id, kind),
        account_id=ctx.message.accountid, user_id=user_id, instance_id=instance_id, kind=kind,
        title=title, body=body, cause=ctx.message, path=path)
    await repository.center.queue_pushes(ctx.conn, filed, devices_to_push(instance_id, filed.sessions), user_id=user_id,
                                  instance_id=instance_id, title=title, body=body, cause=ctx.message, path=path)
    await unread(ctx, user_id, filed.unread)


async def unread_changed(ctx: HandlerContext, user_id: str) -> None:
    await unread(ctx, user_id, await repository.center.unread_counts(ctx.conn, user_id))


async def unread(ctx: HandlerContext, user_id: str, counts: dict[str, int]) -> None:
    await ctx.emit(UnreadChanged(user_id=user_id, counts=counts), subject=user_id, instanceid=None)


async def notify_owner(ctx: HandlerContext, kind: str, title: str, body: str) -> None:
    account = await repository.accounts.get_account(ctx.conn, ctx.message.accountid)
    if account is not None:
        await notify(ctx, account["owner_user_id"], account["enterprise_instance_id"], kind, title, body)


