"""The Open API's own bookkeeping: when a key was last used, reported at most once a minute."""

from __future__ import annotations

from crm_contracts.routing import ApiKeyUsed, RecordKeyUse
from crm_runtime.handlers import HandlerContext, Handlers

from .. import repository
from .gate import system

handlers = Handlers()


@handlers.on(RecordKeyUse)
async def record_key_use(ctx: HandlerContext, cmd: RecordKeyUse) -> None:
    system(ctx)
    instance_id = await repository.roster.touch_api_key(ctx.conn, cmd.key_id, cmd.used_at)
    if instance_id is not None:
        await ctx.emit(ApiKeyUsed(key_id=cmd.key_id, instance_id=instance_id, used_at=cmd.used_at),
                       instanceid=instance_id)
