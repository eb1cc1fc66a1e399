"""The runtime against the real PostgreSQL and Kafka: batches, the inbox, error judgement and outages
(the outbox relay's tests are in test_relay.py)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from crm_contracts import command, identity
from crm_testing.databases import scratch_database
from crm_runtime import db, inbox
from runtime_helpers import (SERVICE, Behaviours, batch_of, group_create, group_created, outbox_types, processor,
                             scratch)

pytestmark = pytest.mark.stack



@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_runtime_test") as pool:
        await pool.execute("CREATE TABLE scratch (group_id text PRIMARY KEY, n int NOT NULL DEFAULT 0)")
        yield pool


# --- inbox ---------------------------------------------------------------------------------------


async def test_migrations_run_once(pool):
    async with pool.acquire() as conn:
        assert await db.migrate(conn, [("runtime", db.migrations_of("crm_runtime"))]) == []


async def test_inbox_claims_a_message_once_also_within_one_batch(pool):
    a, b = group_created("acc_x", "a"), group_created("acc_x", "b")
    async with pool.acquire() as conn:
        assert await inbox.claim_many(conn, SERVICE, [a, b, a]) == {a.id, b.id}
        assert await inbox.claim(conn, SERVICE, a) is False
        assert await inbox.claim(conn, "another-consumer", a) is True


# --- a batch ------------------------------------------------------------------------------------


async def test_poison_rejection_and_bug_in_the_middle_of_a_batch_affect_only_their_own_record(
        pool, producer, bus, account_id):
    b = Behaviours()
    cmds = {name: group_create(account_id, f"{name}-{account_id}") for name in ("ok1", "reject", "bug", "ok2")}
    records = batch_of([cmds["ok1"], b"{not json", cmds["reject"], cmds["bug"], cmds["ok2"]], key=account_id)

    outcomes = await processor(pool, producer, b).process(records)

    assert [(o.name, o.reason) for o in outcomes] == [
        ("handled", None), ("dead_lettered", "invalid_json"), ("rejected", "group_taken"),
        ("dead_lettered", "handler_error"), ("handled", None)]
    # The rejected and the failing handler wrote before raising: both rolled back, the rest kept.
    assert await scratch(pool, account_id) == {f"ok1-{account_id}", f"ok2-{account_id}"}
    ids = [c.id for c in cmds.values()]
    assert await outbox_types(pool, ids) == [
        (cmds["ok1"].id, "identity.group.created"), (cmds["reject"].id, "identity.command.rejected"),
        (cmds["ok2"].id, "identity.group.created")]
    claimed = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox WHERE event_id = ANY($1)", ids)}
    assert claimed == {cmds["ok1"].id, cmds["reject"].id, cmds["ok2"].id}  # the dead letter can be replayed
    dead = await bus.wait_for(lambda r: r.topic == "identity.commands.v1.dlq" and r.key == account_id, count=2)
    assert [r.headers["dlq_reason"] for r in dead] == ["invalid_json", "handler_error"]
    assert [r.headers["dlq_source_offset"] for r in dead] == ["101", "103"]
    assert dead[0].value == b"{not json" and "a bug" in dead[1].headers["dlq_error"]
    assert dead[1].headers["trace"] == "\ufffd\ufffd"  # the record's own headers travel along


async def test_a_redelivered_batch_changes_nothing(pool, producer, account_id):
    b = Behaviours()
    cmd = group_create(account_id, f"ok-{account_id}")
    first = await processor(pool, producer, b).process(batch_of([cmd, cmd], key=account_id))
    again = await processor(pool, producer, b).process(batch_of([cmd], key=account_id))
    assert [o.name for o in first + again] == ["handled", "duplicate", "duplicate"]
    assert b.calls == [f"ok-{account_id}"]


async def test_a_command_no_handler_exists_for_yet_is_answered_not_dropped(pool, producer, account_id):
    """A service that reads a topic answers every command type of it, even one it cannot act on yet."""
    b = Behaviours()
    cmd = command(identity.RenameInstance(instance_id="ins_1", name="n", by_user_id="u"), source="test",
                  accountid=account_id)
    [outcome] = await processor(pool, producer, b).process(batch_of([cmd], key=account_id))
    assert (outcome.name, outcome.reason) == ("rejected", "unsupported_command")
    assert await outbox_types(pool, [cmd.id]) == [(cmd.id, "identity.command.rejected")]


def test_every_command_of_the_contract_has_a_handler_in_the_service_that_owns_it():
    from crm_contracts import MESSAGES, Direction
    from crm_identity.handlers import handlers as identity_handlers
    from crm_notifications.handlers import handlers as notifications_handlers
    from crm_routing.handlers import handlers as routing_handlers
    from crm_seats.handlers import handlers as seats_handlers

    owners = {"identity": identity_handlers, "seats": seats_handlers, "routing": routing_handlers,
              "notifications": notifications_handlers}
    missing = [t for t, spec in MESSAGES.items() if spec.topic.direction is Direction.COMMANDS
               and owners[spec.topic.owner].get(t) is None]
    assert missing == []


async def test_a_value_the_database_cannot_hold_is_answered_with_a_rejection(pool, producer, account_id):
    cmd = group_create(account_id, f"overflow-{account_id}")
    [outcome] = await processor(pool, producer, Behaviours()).process(batch_of([cmd], key=account_id))
    assert (outcome.name, outcome.reason) == ("rejected", "invalid_value")
    assert "3000000000" in outcome.detail
    assert await outbox_types(pool, [cmd.id]) == [(cmd.id, "identity.command.rejected")]


async def test_an_os_error_raised_by_handler_code_is_a_bug_not_an_outage(pool, producer, account_id):
    b = Behaviours()
    cmd = group_create(account_id, f"oserror-{account_id}")
    [outcome] = await processor(pool, producer, b, attempts=2).process(batch_of([cmd], key=account_id))
    assert (outcome.name, outcome.reason) == ("dead_lettered", "handler_error")
    assert b.calls.count(cmd.data["group_id"]) == 3  # the fast pass, then two careful attempts


# --- outages: retried for as long as they last, never dead-lettered ---------------------------


async def test_a_serialization_failure_is_retried_until_it_passes(pool, producer, account_id):
    b = Behaviours()
    cmd = group_create(account_id, f"serialization-{account_id}")
    [outcome] = await processor(pool, producer, b, attempts=1).process(batch_of([cmd], key=account_id))
    assert outcome.name == "handled"
    assert await scratch(pool, account_id) == {f"serialization-{account_id}"}


async def test_a_lock_timeout_waits_for_the_lock_instead_of_dead_lettering(pool, producer, account_id):
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS held_lock (v int)")
    holder = await pool.acquire()
    tx = holder.transaction()
    await tx.start()
    await holder.execute("LOCK TABLE held_lock IN ACCESS EXCLUSIVE MODE")
    cmd = group_create(account_id, f"locked-{account_id}")
    waiting = processor(pool, producer, Behaviours(), attempts=1, timeout_attempts=100)  # waits it out
    work = asyncio.create_task(waiting.process(batch_of([cmd], key=account_id)))
    await asyncio.sleep(1.0)  # several lock timeouts (55P03) happen meanwhile
    assert not work.done()
    # What /health reports once it has lasted `stuck_after_s`: where, since which offset, and why.
    trouble = waiting.trouble[("identity.commands.v1", 0)]
    assert trouble.offset == 100 and trouble.attempts >= 2 and "LockNotAvailable" in trouble.error
    await tx.rollback()
    await pool.release(holder)
    [outcome] = await asyncio.wait_for(work, 10)
    assert outcome.name == "handled" and not waiting.trouble


async def test_an_outage_on_a_command_from_http_is_told_to_its_caller_and_not_kept_as_trouble(pool, producer,
                                                                                             account_id):
    """An HTTP-side command answers its caller at once on an outage; nothing stays behind for /health
    (trouble kept under a partition nobody processes again would report the replica unhealthy for ever)."""
    p = processor(pool, producer, Behaviours())  # the first attempt's connection is killed mid-transaction
    cmd = group_create(account_id, f"killed-{account_id}")
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):  # the HTTP side answers 503
        await p.handle_message(cmd)
    assert p.trouble == {}
    assert (await p.handle_message(cmd)).name == "handled"  # the caller's retry
    assert p.trouble == {}


async def test_a_record_that_always_times_out_is_dead_lettered_and_the_rest_handled(pool, producer, account_id):
    """Statement timeouts are retried as outages, but one record that keeps hitting its timeout
    while the database answers other work is set aside (`timeout`) instead of holding its partition."""
    b = Behaviours()
    cmds = [group_create(account_id, f"{kind}-{account_id}") for kind in ("before", "slow", "after")]
    outcomes = await asyncio.wait_for(
        processor(pool, producer, b, timeout_attempts=3).process(batch_of(cmds, key=account_id)), 30)
    assert [(o.name, o.reason) for o in outcomes] == [("handled", None), ("dead_lettered", "timeout"),
                                                      ("handled", None)]
    assert await scratch(pool, account_id) == {f"before-{account_id}", f"after-{account_id}"}
    assert not await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", cmds[1].id)  # replayable


async def test_a_connection_killed_mid_transaction_is_an_outage_and_the_batch_is_redone(
        pool, producer, account_id):
    b = Behaviours()
    cmds = [group_create(account_id, f"ok1-{account_id}"), group_create(account_id, f"killed-{account_id}")]
    outcomes = await processor(pool, producer, b, attempts=1).process(batch_of(cmds, key=account_id))
    assert [o.name for o in outcomes] == ["handled", "handled"]
    assert await scratch(pool, account_id) == {f"ok1-{account_id}", f"killed-{account_id}"}
    assert len(await outbox_types(pool, [c.id for c in cmds])) == 2
