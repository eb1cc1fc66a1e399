"""An instance's Open API keys: issued (over HTTP, which shows the key once), revoked, and when
routing last saw each used."""

from __future__ import annotations

from crm_contracts.identity import ApiKeyIssued, ApiKeyRevoked, IssueApiKey, RevokeApiKey
from crm_contracts.routing import ApiKeyUsed
from crm_runtime.handlers import HandlerContext, Handlers, Rejected

from .. import repository
from .common import load_instance
from .gate import permitted

handlers = Handlers()


async def _keys_of(ctx: HandlerContext, instance_id: str, by_user_id: str | None):
    """The instance, locked, once `by_user_id` may manage its keys."""
    instance = await load_instance(ctx, instance_id, for_update=True)
    await permitted(ctx, by_user_id, instance=instance)
    return instance


@handlers.on(IssueApiKey)
async def issue_api_key(ctx: HandlerContext, cmd: IssueApiKey) -> None:
    instance = await _keys_of(ctx, cmd.instance_id, cmd.by_user_id)
    if cmd.key_hash is None or cmd.last_four is None or cmd.key_id is None:
        raise Rejected("key_hash_required",
                       "issue keys over identity's HTTP API (it shows the key once), or send key_id, "
                       "key_hash and last_four of a key you made")
    if not await repository.instances.insert_api_key(ctx.conn, instance.instance_id, cmd.key_id, cmd.name, cmd.key_hash,
                                           cmd.last_four):
        raise Rejected("api_key_exists", f"a key with id {cmd.key_id} or this hash exists already")
    await ctx.emit(ApiKeyIssued(instance_id=instance.instance_id, key_id=cmd.key_id, key_hash=cmd.key_hash,
                                name=cmd.name, last_four=cmd.last_four), instanceid=instance.instance_id)


@handlers.on(RevokeApiKey)
async def revoke_api_key(ctx: HandlerContext, cmd: RevokeApiKey) -> None:
    instance = await _keys_of(ctx, cmd.instance_id, cmd.by_user_id)
    revoked = await repository.instances.revoke_api_key(ctx.conn, instance.instance_id, cmd.key_id)
    if revoked is None:  # a key of another instance is unknown here too
        raise Rejected("unknown_api_key", f"instance {instance.instance_id} has no API key {cmd.key_id}")
    await ctx.emit(ApiKeyRevoked(instance_id=instance.instance_id, key_id=cmd.key_id, key_hash=revoked["key_hash"]),
                   instanceid=instance.instance_id)


@handlers.on(ApiKeyUsed)
async def api_key_used(ctx: HandlerContext, event: ApiKeyUsed) -> None:
    await repository.instances.note_key_use(ctx.conn, event.key_id, event.used_at)
