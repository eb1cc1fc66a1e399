"""R4 claim timers through routing's real handlers and SQL: a timer fires when the platform's clock
reaches it, a timer whose expiry is refused ends with its reason, and one instance's timers never hold
back another's."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest

from crm_contracts import now
from crm_routing import repository, timers
from crm_routing.handlers import handlers
from crm_runtime import db
from crm_runtime.batches import BatchProcessor
from crm_runtime.settings import ServiceSettings
from crm_testing.databases import scratch_database

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
async def processor(stack):
    async with scratch_database(stack, "crm_routing_timers", [("routing", db.migrations_of("crm_routing"))],
                                max_size=2) as pool:
        yield BatchProcessor("routing", handlers, None, group="timers-test", settings=ServiceSettings(), pool=pool)


async def _lead_with_timer(conn, instance_id: str, *, rules_version: int, due_ago_s: float,
                           at: datetime | None = None) -> str:
    lead_id = "lead_" + uuid.uuid4().hex[:12]
    await conn.execute(
        """INSERT INTO leads (lead_id, instance_id, account_id, channel, lead, state, user_id, rule_id, step,
                              rules_version)
           VALUES ($1, $2, 'acc_t', 'manual', '{}', 'assigned', 'u1', 'r', 0, $3)""",
        lead_id, instance_id, rules_version)
    await repository.leads.set_timer(conn, "tmr_" + uuid.uuid4().hex, lead_id,
                                          (at or now()) - timedelta(seconds=due_ago_s))
    return lead_id


async def test_a_refused_expiry_ends_its_timer_and_a_full_instance_holds_back_no_other(processor):
    pool = processor.pool
    stuck, healthy = "ins_stuck_" + uuid.uuid4().hex[:6], "ins_ok_" + uuid.uuid4().hex[:6]
    async with pool.acquire() as conn:
        # A stored rule set that no longer parses: every expiry of the stuck instance is refused.
        await conn.execute("INSERT INTO rule_sets (instance_id, version, rules) VALUES ($1, 1, $2::jsonb)",
                           stuck, json.dumps([{"id": "r", "steps": [{"strategy": "no_such_strategy"}]}]))
        await conn.execute("INSERT INTO rule_sets (instance_id, version, rules) VALUES ($1, 1, $2::jsonb)",
                           healthy, json.dumps([{"id": "r", "steps": [{"strategy": "round_robin"}]}]))
        for i in range(250):  # more than one pass takes, and all due before the healthy one
            await _lead_with_timer(conn, stuck, rules_version=1, due_ago_s=600 - i)
        ok = await _lead_with_timer(conn, healthy, rules_version=1, due_ago_s=1)
    await timers.fire_due(pool, processor, now())
    async with pool.acquire() as conn:
        # The healthy instance's timer fired in the same pass: it went to the pond, its timer ended.
        assert await conn.fetchval("SELECT count(*) FROM timers WHERE lead_id = $1", ok) == 0
        assert await conn.fetchval("SELECT state FROM leads WHERE lead_id = $1", ok) == "pooled"
    for _ in range(20):
        if not await timers.fire_due(pool, processor, now()):
            break
    async with pool.acquire() as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM timers JOIN leads USING (lead_id) WHERE instance_id = $1", stuck)
    assert left == 0  # each refused expiry ended its timer instead of waiting for ever


async def test_a_timer_fires_when_the_platform_clock_reaches_its_deadline_and_not_before(processor):
    pool = processor.pool
    ins = "ins_clock_" + uuid.uuid4().hex[:6]
    start = now()
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO rule_sets (instance_id, version, rules) VALUES ($1, 1, $2::jsonb)",
                           ins, json.dumps([{"id": "r", "steps": [{"strategy": "round_robin"}]}]))
        lead = await _lead_with_timer(conn, ins, rules_version=1, due_ago_s=-90, at=start)  # due in 90 s

    async def state() -> tuple[str, int]:
        async with pool.acquire() as conn:
            return (await conn.fetchval("SELECT state FROM leads WHERE lead_id = $1", lead),
                    await conn.fetchval("SELECT count(*) FROM timers WHERE lead_id = $1", lead))

    for seconds in (0, 89):
        await timers.fire_due(pool, processor, start + timedelta(seconds=seconds))
        assert await state() == ("assigned", 1), seconds
    await timers.fire_due(pool, processor, start + timedelta(seconds=91))
    assert await state() == ("pooled", 0)
