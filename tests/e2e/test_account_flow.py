"""Issue 2's flow end to end: identity.account.create -> identity -> seats, on the real stack."""

from __future__ import annotations

import asyncio
import json
import signal

import asyncpg
import httpx
import pytest

from crm_contracts import CloudEvent, command, identity, routing, seats
from crm_runtime.faults import CRASH_AFTER_COMMIT

pytestmark = pytest.mark.stack


def create_account(account_id: str, name: str = "Lane Realty") -> identity.CreateAccount:
    return identity.CreateAccount(
        account_id=account_id, name=name, tier="enterprise",
        owner={"user_id": f"{account_id}_owner", "email": "owner@example.com",
               "first_name": "Ada", "last_name": "Lane"})


def subscription(total: int = 5) -> seats.SetSubscription:
    return seats.SetSubscription(seats_total=total, seat_price_cents=4900, currency="USD",
                                 period_start="2026-11-01", period_end="2026-12-01")


async def get_json(url: str) -> tuple[int, dict]:
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(url)
        return r.status_code, r.json()


async def seat_ledger(stack, account_id: str, *, until=lambda body: True, timeout: float = 20) -> dict:
    """Poll the seats read endpoint until `until(body)` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status, body = await get_json(f"{stack.http('seats')}/v1/seats?account_id={account_id}")
        if status == 200 and until(body):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"seat ledger never matched: {status} {body}")
        await asyncio.sleep(0.2)


async def test_account_created_and_seat_ledger_opened(stack, bus, account_id):
    cmd = await bus.command(create_account(account_id), accountid=account_id)

    [created] = await bus.wait_event("identity.account.created", correlationid=cmd.id)
    assert created.causationid == cmd.id
    assert created.accountid == account_id
    assert created.source == "crm/identity"
    assert created.data["tier"] == "enterprise"
    assert created.data["enterprise_instance_id"].startswith("ins_")

    status, body = await get_json(f"{stack.http('identity')}/v1/accounts?account_id={account_id}")
    assert status == 200 and body["account"]["name"] == "Lane Realty"

    ledger = await seat_ledger(stack, account_id, until=lambda b: b["history"])
    assert ledger["history"][0]["change"] == "account_opened"
    assert ledger["history"][0]["cause_event_id"] == created.id

    sub = await bus.command(subscription(total=5), accountid=account_id)
    [changed] = await bus.wait_event("seats.subscription.changed", correlationid=sub.id)
    assert changed.causationid == sub.id and changed.data["seats_total"] == 5
    ledger = await seat_ledger(stack, account_id, until=lambda b: b["summary"]["seats_total"] == 5)
    assert ledger["summary"]["seats_available"] == 5
    assert [h["change"] for h in ledger["history"]] == ["account_opened", "subscription_set"]  # waited in between


async def test_a_command_delivered_twice_changes_state_once_and_is_answered_once(stack, bus, account_id):
    cmd = command(create_account(account_id), source="test-suite", accountid=account_id)
    await bus.send(cmd)
    await bus.send(cmd)
    await bus.wait_event("identity.account.created", correlationid=cmd.id)
    await bus.quiet(3)
    assert len(bus.events(lambda e: e.correlationid == cmd.id)) == 1
    ledger = await seat_ledger(stack, account_id, until=lambda b: b["history"])
    await bus.quiet(1)
    ledger = await seat_ledger(stack, account_id)
    assert [h["change"] for h in ledger["history"]] == ["account_opened"]


async def test_malformed_records_are_dead_lettered_and_the_partition_moves_on(stack, bus, account_id):
    topic = identity.COMMANDS.name
    await bus.send_raw(topic, b"{this is not json", key=account_id)
    bad_data = command(create_account(account_id), source="test-suite", accountid=account_id)
    bad_data = bad_data.model_copy(update={"data": {**bad_data.data, "tier": "galactic", "owner": {}}})
    await bus.send(bad_data)
    good = await bus.command(create_account(account_id), accountid=account_id)

    dead = await bus.wait_for(lambda r: r.topic == f"{topic}.dlq" and r.key == account_id, count=2)
    by_reason = {r.headers["dlq_reason"]: r for r in dead}
    assert set(by_reason) == {"invalid_json", "invalid_data"}
    assert by_reason["invalid_json"].value == b"{this is not json"
    assert json.loads(by_reason["invalid_data"].value)["id"] == bad_data.id  # copied unchanged
    assert "tier" in by_reason["invalid_data"].headers["dlq_error"]
    for record in dead:
        h = record.headers
        assert h["dlq_source_topic"] == topic
        assert int(h["dlq_source_offset"]) >= 0 and int(h["dlq_source_partition"]) >= 0
        assert h["dlq_consumer_group"] == "crm-identity" + stack.group_suffix
        assert h["dlq_failed_at"].endswith("Z")
    # All three went to one partition (same key); the valid one behind the junk was handled.
    assert len({r.headers["dlq_source_partition"] for r in dead}) == 1
    await bus.wait_event("identity.account.created", correlationid=good.id)


async def test_unknown_type_on_a_command_topic_is_dead_lettered(bus, account_id):
    junk = CloudEvent(specversion="1.0", id="x-" + account_id, source="test-suite",
                      type="identity.account.explode", accountid=account_id, data={})
    await bus.send_raw(identity.COMMANDS.name, junk.to_json(), key=account_id)
    [dead] = await bus.wait_for(lambda r: r.topic == "identity.commands.v1.dlq" and r.key == account_id)
    assert dead.headers["dlq_reason"] == "unknown_type"
    assert "identity.account.explode" in dead.headers["dlq_error"]


async def test_creating_an_existing_account_with_other_data_is_rejected(bus, account_id):
    first = await bus.command(create_account(account_id, name="Lane Realty"), accountid=account_id)
    await bus.wait_event("identity.account.created", correlationid=first.id)
    second = await bus.command(create_account(account_id, name="Other Name"), accountid=account_id)
    [rejected] = await bus.wait_event("identity.command.rejected", correlationid=second.id)
    assert rejected.data == {"command_id": second.id, "command_type": "identity.account.create",
                             "reason": "account_already_exists", "message": rejected.data["message"]}
    assert account_id in rejected.data["message"]
    # The same data again is a retry: answered with the account as it is, nothing changes.
    third = await bus.command(create_account(account_id, name="Lane Realty"), accountid=account_id)
    [again] = await bus.wait_event("identity.account.created", correlationid=third.id)
    assert again.data["enterprise_instance_id"] == (
        bus.events(lambda e: e.correlationid == first.id)[0].data["enterprise_instance_id"])


async def test_account_id_must_match_the_envelope(bus, account_id):
    cmd = await bus.command(create_account(account_id), accountid=account_id + "_other")
    [rejected] = await bus.wait_event("identity.command.rejected", correlationid=cmd.id)
    assert rejected.data["reason"] == "account_id_mismatch"


async def test_a_subscription_below_zero_is_dead_lettered_by_seats(bus, account_id):
    bad = command(subscription(), source="test-suite", accountid=account_id)
    bad = bad.model_copy(update={"data": {**bad.data, "seats_total": -1}})
    await bus.send(bad)
    [dead] = await bus.wait_for(lambda r: r.topic == "seats.commands.v1.dlq" and r.key == account_id)
    assert dead.headers["dlq_reason"] == "invalid_data"
    assert "seats_total" in dead.headers["dlq_error"]


async def test_a_command_no_handler_exists_for_yet_is_answered_not_dropped(bus, account_id):
    cmd = await bus.command(routing.PauseAgent(instance_id="ins_1", user_id="usr_1"), accountid=account_id)
    [rejected] = await bus.wait_event("routing.command.rejected", correlationid=cmd.id)
    assert rejected.data["reason"] == "unsupported_command"


async def test_identity_killed_after_commit_before_offset_commit_loses_and_duplicates_nothing(
        stack, bus, account_id):
    cmd = command(create_account(account_id), source="test-suite", accountid=account_id)
    stack.stop_service("identity")
    try:
        pid = stack.start_service("identity", env={CRASH_AFTER_COMMIT: cmd.id})
        await stack.wait_healthy("identity")
        await bus.send(cmd)
        # The process SIGKILLs itself right after the transaction committed, before the offset.
        for _ in range(300):
            if stack.service_pid("identity") is None:
                break
            await asyncio.sleep(0.1)
        assert stack.service_pid("identity") is None, "identity did not reach the crash point"
        assert _exit_signal(pid) in (signal.SIGKILL, None)
    finally:
        stack.start_service("identity")
        await stack.wait_healthy("identity")

    [created] = await bus.wait_event("identity.account.created", correlationid=cmd.id, timeout=60)
    await bus.quiet(4)  # time for a wrong second answer to show up
    answers = bus.events(lambda e: e.correlationid == cmd.id and e.type.startswith("identity."))
    assert {e.id for e in answers} == {created.id}  # republishing the same event is allowed
    conn = await asyncpg.connect(stack.database_url("identity"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", account_id) == 1
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", cmd.id) == 1
    finally:
        await conn.close()


def _exit_signal(pid: int) -> int | None:
    import os

    try:
        _, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None  # already reaped
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
