"""The claim-timer worker (R4): due timers become `routing.lead.claim_expired` commands that the
service hands to its own handler. Stored timers survive restarts; the timer id is the command id,
so when two replicas see the same due timer the inbox lets one of them act."""

from __future__ import annotations

import asyncio

from crm_contracts import command
from crm_contracts.routing import ClaimExpired
from crm_runtime import logs
from crm_runtime.service import Service

from . import repository

log = logs.get(__name__)


async def fire_due(svc: Service) -> int:
    assert svc.pool is not None
    async with svc.pool.acquire() as conn:
        due = await repository.due_timers(conn)
    for t in due:
        message = command(ClaimExpired(lead_id=t["lead_id"], timer_id=t["timer_id"]), source="crm/routing-timers",
                          accountid=t["account_id"], instanceid=t["instance_id"], subject=t["lead_id"],
                          id=t["timer_id"])
        await svc.processor.handle_message(message)
    return len(due)


async def run(svc: Service) -> None:
    interval = svc.settings.timer_poll_s  # type: ignore[attr-defined]
    while True:
        try:
            if svc.ready:
                await fire_due(svc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an outage: the timers stay stored and fire on a later pass
            log.warning("timers_failed", error=repr(exc))
        await asyncio.sleep(interval)
