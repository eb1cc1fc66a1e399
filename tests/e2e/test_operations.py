"""What operators rely on: outages are ridden out, and every service reports health and metrics."""

from __future__ import annotations


import httpx
import pytest

from crm_contracts import identity
from crm_devstack.stack import SERVICES
from crm_devstack.waiting import eventually

pytestmark = pytest.mark.stack


async def test_a_database_outage_delays_commands_but_neither_loses_nor_dead_letters_them(
        platform, stack, bus, account_id):
    if not stack.owns_parts:
        pytest.skip("the database is not ours to stop")
    retried = stack.log_text("identity").count("batch_retry_transient")
    stack.postgres.stop()
    try:
        cmd = await bus.command(identity.CreateAccount(
            account_id=account_id, name="Outage Realty", tier="enterprise",
            owner={"user_id": "o", "email": "o@example.com", "first_name": "O", "last_name": "P"}),
            accountid=account_id)
        # Identity took the command and failed on it twice (its retries say so): it is held, not answered.
        await eventually(lambda: stack.log_text("identity").count("batch_retry_transient") >= retried + 2,
                         timeout=30, what="identity retrying the command while the database is down")
        assert not bus.events(lambda e: e.correlationid == cmd.id)
        async with httpx.AsyncClient(timeout=5) as client:
            health = await client.get(stack.http("identity") + "/health")
            ready = await client.get(stack.http("identity") + "/readyz")
            live = await client.get(stack.http("identity") + "/livez")
        assert health.status_code == 503 and health.json()["database"].startswith("down")
        # Out of rotation, not restarted: a restart would not bring the database back.
        assert ready.status_code == 503 and ready.json()["problems"] == ["database unreachable"]
        assert live.status_code == 200 and live.json() == {"service": "identity", "status": "alive", "ended": []}
    finally:
        stack.postgres.start()
        await stack.postgres.wait()
    [created] = await bus.wait_event("identity.account.created", correlationid=cmd.id, timeout=60)
    assert created.causationid == cmd.id
    await stack.settled()
    assert not bus.matching(lambda r: r.topic.endswith(".dlq") and r.key == account_id)
    for service in SERVICES:
        await stack.health.wait(service, timeout=30)


async def test_every_service_reports_health_and_metrics(stack, bus, account_id, platform):
    cmd = await platform.send(account_id, identity.SetOptIn(enabled=True))  # unknown account: rejected
    assert await platform.rejected(cmd) == "unknown_account"
    async with httpx.AsyncClient(timeout=5) as client:
        for service in SERVICES:
            health = (await client.get(stack.http(service) + "/health")).json()
            assert health["status"] == "ok" and health["database"] == "ok" and health["kafka"] == "ok"
            assert health["outbox_backlog"] >= 0
            ready, live = (await client.get(stack.http(service) + "/readyz")), (await client.get(stack.http(service) + "/livez"))
            assert (ready.status_code, ready.json()["status"]) == (200, "ready")
            assert (live.status_code, live.json()["status"]) == (200, "alive")
        metrics = (await client.get(stack.http("identity") + "/metrics")).text
    assert 'crm_messages_handled_total{crm_service="identity",outcome="rejected",topic="identity.commands.v1",' \
           'type="identity.account.set_opt_in"}' in metrics
    for name in ("crm_handler_seconds_bucket", "crm_outbox_backlog", "crm_messages_dead_lettered_total",
                 "crm_messages_failed_total"):
        assert name in metrics
