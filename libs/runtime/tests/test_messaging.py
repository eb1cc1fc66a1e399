"""The runtime against the real PostgreSQL and Kafka: batches, the inbox, error judgement and outages
(the outbox relay's tests are in test_relay.py)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from crm_contracts import CloudEvent, command, identity
from crm_testing.databases import scratch_database
from crm_runtime import db, inbox
from crm_runtime.batches import BatchProcessor
from crm_runtime.handlers import HandlerContext, Handlers, Rejected
from crm_runtime.settings import ServiceSettings
from crm_testing.records import consumer_record
from runtime_helpers import SERVICE, group_created

pytestmark = pytest.mark.stack



@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_runtime_test") as pool:
        await pool.execute("CREATE TABLE scratch (group_id text PRIMARY KEY, n int NOT NULL DEFAULT 0)")
        yield pool


def group_create(account_id: str, group_id: str = "g") -> CloudEvent:
    return command(identity.CreateGroup(group_id=group_id, name="Office", parent_group_id=None),
                   source="test", accountid=account_id)


def batch_of(items: list[CloudEvent | bytes], key: str) -> list[ConsumerRecord]:
    # Headers a sender may add, odd bytes and an empty value among them, travel untouched.
    return [consumer_record(item, offset=100 + i, key=key, headers=[("trace", b"\xff\xfe"), ("empty", None)])
            for i, item in enumerate(items)]


class Behaviours:
    """A CreateGroup handler whose behaviour is chosen by the command's group_id."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failures_left: dict[str, int] = {}
        self.handlers = Handlers()
        self.handlers.on(identity.CreateGroup)(self.handle)

    async def handle(self, ctx: HandlerContext, cmd: identity.CreateGroup) -> None:
        kind = cmd.group_id.split("-")[0]
        self.calls.append(cmd.group_id)
        # Every behaviour writes first, so a rollback that does not happen shows in `scratch`.
        await ctx.conn.execute("INSERT INTO scratch (group_id) VALUES ($1)", cmd.group_id)
        if kind == "reject":
            raise Rejected("group_taken", "that group exists")
        if kind == "bug":
            raise KeyError("a bug")
        if kind == "oserror":  # raised by handler code, the connection is fine: not an outage
            raise ConnectionRefusedError("a bug that looks like an outage")
        if kind == "overflow":
            await ctx.conn.execute("UPDATE scratch SET n = $1 WHERE group_id = $2", 3_000_000_000, cmd.group_id)
        if kind == "serialization" and self.failures_left.setdefault(cmd.group_id, 2) > 0:
            self.failures_left[cmd.group_id] -= 1
            raise asyncpg.exceptions.SerializationError("could not serialize access")
        if kind == "slow":  # always longer than its statement timeout
            await ctx.conn.execute("SET LOCAL statement_timeout = '50ms'")
            await ctx.conn.execute("SELECT pg_sleep(1)")
        if kind == "locked":
            await ctx.conn.execute("SET LOCAL lock_timeout = '100ms'")
            await ctx.conn.execute("LOCK TABLE held_lock IN ACCESS EXCLUSIVE MODE")
        if kind == "killed" and self.failures_left.setdefault(cmd.group_id, 1) > 0:
            self.failures_left[cmd.group_id] -= 1
            await ctx.conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        await ctx.emit(identity.GroupCreated(group_id=cmd.group_id, name=cmd.name, parent_group_id=None))


def processor(pool, producer, behaviours: Behaviours, attempts: int = 3, timeout_attempts: int = 5) -> BatchProcessor:
    settings = ServiceSettings(handler_attempts=attempts, retry_max_delay_s=0.2, timeout_attempts=timeout_attempts)
    return BatchProcessor(SERVICE, behaviours.handlers, producer, group="g", settings=settings, pool=pool)


async def scratch(pool, account: str) -> set[str]:
    return {r["group_id"] for r in await pool.fetch("SELECT group_id FROM scratch WHERE group_id LIKE $1",
                                                    f"%-{account}")}


async def outbox_types(pool, correlations: list[str]) -> list[str]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    events = [json.loads(r["payload"]) for r in rows]
    return [(e["correlationid"], e["type"]) for e in events if e.get("correlationid") in correlations]


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
