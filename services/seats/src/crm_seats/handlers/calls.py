"""Call settings per user and instance (bridge numbers come with calling packages: `purchases`)."""

from __future__ import annotations

from crm_contracts.calls import CallSettingsChanged, SetCallSettings
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository
from .gate import permitted
from .purchases import members_of

handlers = Handlers()

@handlers.on(SetCallSettings)
async def set_call_settings(ctx: HandlerContext, cmd: SetCallSettings) -> None:
    await permitted(ctx, cmd.user_id)
    await members_of(ctx, cmd.instance_id, buyer=cmd.user_id)
    await repository.calls.save_call_settings(ctx.conn, ctx.message.accountid, cmd.instance_id, cmd.user_id,
                                        cmd.settings.model_dump(mode="json"))
    await ctx.emit(CallSettingsChanged(instance_id=cmd.instance_id, user_id=cmd.user_id, settings=cmd.settings),
                   subject=cmd.user_id, instanceid=cmd.instance_id)
