"""A service's pool, producer and relay exist together from start to stop: asked for before, the
answer says the service has not started, never a None that fails later elsewhere."""

from __future__ import annotations

import asyncio
import json

import pytest

from crm_runtime import db
from crm_runtime.handlers import Handlers
from crm_runtime.service import NotStarted, Service


@pytest.mark.parametrize("part", ["pool", "producer", "relay", "resources"])
def test_a_part_asked_for_before_start_says_so(part):
    svc = Service("unstarted", Handlers(), [], db.migrations_of("crm_runtime"))
    with pytest.raises(NotStarted, match="unstarted has not started"):
        getattr(svc, part)


async def test_liveness_fails_only_when_a_loop_the_service_keeps_has_ended():

    svc = Service("probed", Handlers(), [], db.migrations_of("crm_runtime"))
    running = asyncio.create_task(asyncio.sleep(3600), name="probed-outbox-relay")
    ended = asyncio.create_task(asyncio.sleep(0), name="probed-worker")
    await ended
    svc.ready = True
    svc._tasks = [running]
    try:
        alive = await svc.livez(None)
        assert (alive.status_code, json.loads(alive.body)) == (200, {"service": "probed", "status": "alive",
                                                                     "ended": []})
        svc._tasks = [running, ended]
        dead = await svc.livez(None)
        assert (dead.status_code, json.loads(dead.body)["ended"]) == (503, ["probed-worker"])
        svc.ready = False  # stopping: its loops end on purpose
        assert (await svc.livez(None)).status_code == 200
    finally:
        running.cancel()


async def test_readiness_before_start_says_it_is_starting():

    svc = Service("early", Handlers(), [], db.migrations_of("crm_runtime"))
    answer = await svc.readyz(None)
    assert answer.status_code == 503 and json.loads(answer.body)["problems"] == ["starting"]
