"""The roster is built from the beginning of identity.events.v1 (kept forever, see topics.py):
a new database — a first start, or a rebuilt one — replays it before the group consumes, so every
replica and every rebuild reaches the same instances, members, statuses and API keys."""

from __future__ import annotations

from crm_contracts import identity
from crm_runtime import logs, replay
from crm_runtime.service import Service

from . import repository

log = logs.get(__name__)


async def rebuild_if_new(svc: Service) -> None:
    assert svc.pool is not None
    async with svc.pool.acquire() as conn:
        if await repository.roster.rebuilt(conn):
            return
    count = await replay.from_beginning(svc.processor, identity.EVENTS, svc.settings.kafka_args())
    async with svc.pool.acquire() as conn:
        await repository.roster.record_rebuild(conn, count)
    log.info("roster_rebuilt", events=count)
