"""The runtime against the real PostgreSQL and Kafka: batches, inbox, outbox relay, error judgement."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import TopicAuthorizationFailedError

from crm_contracts import CloudEvent, command, identity
from crm_testing.databases import scratch_database
from crm_runtime import db, inbox, outbox
from crm_runtime.batches import BatchProcessor
from crm_runtime.handlers import HandlerContext, Handlers, Rejected
from crm_runtime.relay import OutboxRelay
from crm_runtime.settings import ServiceSettings
from crm_devstack.waiting import eventually

pytestmark = pytest.mark.stack

SERVICE = "runtimetest"


@pytest.fixture(scope="module")
async def pool(stack):
    async with scratch_database(stack, "crm_runtime_test") as pool:
        await pool.execute("CREATE TABLE scratch (group_id text PRIMARY KEY, n int NOT NULL DEFAULT 0)")
        yield pool


def group_created(account_id: str, group_id: str) -> CloudEvent:
    # A type no service acts on, so publishing it in tests disturbs nobody.
    return command(identity.GroupCreated(group_id=group_id, name=group_id, parent_group_id=None),
                   source="crm/runtimetest", accountid=account_id)


def group_create(account_id: str, group_id: str = "g") -> CloudEvent:
    return command(identity.CreateGroup(group_id=group_id, name="Office", parent_group_id=None),
                   source="test", accountid=account_id)


def record_of(event: CloudEvent | bytes, offset: int = 0, key: str = "k") -> ConsumerRecord:
    value = event if isinstance(event, bytes) else event.to_json()
    return ConsumerRecord(topic="identity.commands.v1", partition=0, offset=offset, timestamp=0, timestamp_type=0,
                          key=key.encode(), value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=len(value), headers=[("trace", b"\xff\xfe"), ("empty", None)])


def batch_of(items: list[CloudEvent | bytes], key: str) -> list[ConsumerRecord]:
    return [record_of(item, offset=100 + i, key=key) for i, item in enumerate(items)]


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


# --- the outbox relay ---------------------------------------------------------------------------


@pytest.fixture
async def relay_pool(pool):
    """The shared test database with the batch tests' rows out of the way."""
    await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    return pool


async def test_a_row_that_commits_after_higher_ids_is_published_by_the_next_pass_not_skipped(
        relay_pool, producer, bus, account_id):
    pool = relay_pool
    relay = OutboxRelay(SERVICE, pool, producer)
    late, early = group_created(account_id, "late"), group_created(account_id, "early")
    slow = await pool.acquire()
    tx = slow.transaction()
    await tx.start()
    await outbox.stage(slow, SERVICE, late)  # takes the lower id, commits last
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, early)
    try:
        assert await relay.publish_pending() == 1  # what is committed goes; nothing waits on `late`
    finally:
        await tx.commit()
        await pool.release(slow)
    assert await relay.publish_pending() == 1
    records = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert [r.event.id for r in records] == [early.id, late.id]
    assert await relay.backlog() == 0 and await relay.stalled(0) is None


async def test_transactions_that_follow_one_another_publish_in_that_order(relay_pool, producer, bus, account_id):
    """The second waits for the first's row lock, as two commands of one account do."""
    pool = relay_pool
    await pool.execute("CREATE TABLE IF NOT EXISTS one_row (id int PRIMARY KEY)")
    await pool.execute("INSERT INTO one_row VALUES (1) ON CONFLICT DO NOTHING")
    first, second = group_created(account_id, "first"), group_created(account_id, "second")
    holder = await pool.acquire()
    tx = holder.transaction()
    await tx.start()
    await holder.execute("SELECT * FROM one_row WHERE id = 1 FOR UPDATE")

    async def follower():
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT * FROM one_row WHERE id = 1 FOR UPDATE")
            await outbox.stage(conn, SERVICE, second)

    waiting = asyncio.create_task(follower())
    await asyncio.sleep(0.2)
    await outbox.stage(holder, SERVICE, first)
    await tx.commit()
    await pool.release(holder)
    await asyncio.wait_for(waiting, 5)
    relay = OutboxRelay(SERVICE, pool, producer)
    while await relay.publish_pending():
        pass
    records = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert [r.event.id for r in records] == [first.id, second.id]


async def test_a_database_with_an_open_transaction_does_not_hold_back_another_databases_relay(
        stack, relay_pool, producer, bus, account_id):
    other = await asyncpg.connect(stack.database_url("seats"))
    tx = other.transaction()
    await tx.start()
    await other.execute("SELECT pg_current_xact_id()")  # a transaction with an xid, left open
    try:
        event = group_created(account_id, "meanwhile")
        async with relay_pool.acquire() as conn, conn.transaction():
            await outbox.stage(conn, SERVICE, event)
        assert await OutboxRelay(SERVICE, relay_pool, producer).publish_pending() == 1
    finally:
        await tx.rollback()
        await other.close()
    await bus.wait_for(lambda r: r.key == account_id and r.event.id == event.id)


async def test_relay_crash_between_publish_and_mark_republishes_instead_of_losing(relay_pool, producer, bus, account_id):
    pool = relay_pool
    event = group_created(account_id, "g1")
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, event)

    class CrashingRelay(OutboxRelay):
        async def _mark_published(self, conn, ids):
            raise ConnectionResetError("connection lost before the rows were marked")

    with pytest.raises(ConnectionResetError):
        await CrashingRelay(SERVICE, pool, producer).publish_pending()
    await bus.wait_for(lambda r: r.key == account_id)
    assert await pool.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", event.id) is None

    assert await OutboxRelay(SERVICE, pool, producer).publish_pending() == 1
    copies = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert {r.event.id for r in copies} == {event.id}  # a duplicate, which consumers de-duplicate
    assert await pool.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", event.id) is not None


async def test_a_row_the_broker_can_never_take_is_set_aside_and_the_rest_published_once(
        relay_pool, producer, bus, account_id):
    pool = relay_pool
    before, after = group_created(account_id, "before"), group_created(account_id, "after")
    huge = group_created(account_id, "huge").model_copy(update={"data": {"name": "x" * 2_000_000}})
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage_many(conn, SERVICE, [before, huge, after])
    relay = OutboxRelay(SERVICE, pool, producer)
    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 0  # nothing retried, nothing stuck
    published = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert [r.event.id for r in published] == [before.id, after.id]
    dead = await pool.fetchrow("SELECT event_id, error FROM outbox_dead WHERE event_id = $1", huge.id)
    assert dead is not None and "MessageSizeTooLarge" in dead["error"]
    assert await relay.backlog() == 0
    marker = group_created(account_id, "marker")  # anything after the two shows nothing else came
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, marker)
    await relay.publish_pending()
    await bus.wait_for(lambda r: r.key == account_id and r.event.id == marker.id)
    assert len(bus.matching(lambda r: r.key == account_id)) == 3


class DeniedProducer:
    """A producer the broker does not let write (a missing ACL grant)."""
    _request_timeout_ms = 40_000

    async def send(self, *_args, **_kwargs):
        refused = asyncio.get_running_loop().create_future()
        refused.set_exception(TopicAuthorizationFailedError())
        return refused


async def test_a_missing_grant_is_an_outage_nothing_is_set_aside_and_health_names_it(
        relay_pool, producer, bus, account_id):
    pool = relay_pool
    events = [group_created(account_id, f"g{i}") for i in range(3)]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage_many(conn, SERVICE, events)
    denied = OutboxRelay(SERVICE, pool, DeniedProducer(), max_delay=0.05, stall_after=0.0)
    running = asyncio.create_task(denied.run())
    await asyncio.sleep(0.5)  # several passes, each refused
    running.cancel()
    assert await pool.fetchval("SELECT count(*) FROM outbox_dead WHERE event_id = ANY($1)",
                               [e.id for e in events]) == 0
    assert await denied.backlog() >= 3
    assert "TopicAuthorizationFailedError" in (await denied.stalled(await denied.backlog()) or "")
    # The grant is given: everything goes out, in order, once.
    assert await OutboxRelay(SERVICE, pool, producer).publish_pending() >= 3
    published = await bus.wait_for(lambda r: r.key == account_id, count=3)
    assert [r.event.id for r in published] == [e.id for e in events]


async def test_set_aside_rows_requeued_are_published_with_their_ids(relay_pool, producer, bus, account_id):
    pool = relay_pool
    event = group_created(account_id, "aside")
    await pool.execute(
        """INSERT INTO outbox_dead (id, event_id, topic, key, type, payload, created_at, error)
           VALUES (-1 * (extract(epoch FROM clock_timestamp()) * 1000)::bigint, $1, $2, $3, $4, $5, now(),
                   'TopicAuthorizationFailedError()')""",
        event.id, event.topic, event.key, event.type, event.to_json())
    async with pool.acquire() as conn:
        assert event.id in [r["event_id"] for r in await outbox.dead_rows(conn)]
        assert await outbox.requeue_dead(conn, SERVICE) >= 1
        assert event.id not in [r["event_id"] for r in await outbox.dead_rows(conn)]
    await OutboxRelay(SERVICE, pool, producer).publish_pending()
    [again] = await bus.wait_for(lambda r: r.key == account_id)
    assert again.event.id == event.id


async def test_one_relay_per_database_publishes_and_another_takes_over_when_it_goes(
        stack, relay_pool, producer, bus, account_id):
    dsn = await relay_pool.fetchval("SELECT current_database()")
    dsn = stack.admin_url.rsplit("/", 1)[0] + "/" + dsn
    first = OutboxRelay(SERVICE, relay_pool, producer, dsn=dsn)
    second = OutboxRelay(SERVICE, relay_pool, producer, dsn=dsn)
    one, two = group_created(account_id, "one"), group_created(account_id, "two")
    async with relay_pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, one)
    try:
        assert await first.publish_pending() == 1 and first.leader
        async with relay_pool.acquire() as conn, conn.transaction():
            await outbox.stage(conn, SERVICE, two)
        assert await second.publish_pending() == 0 and not second.leader  # the lock is taken
        await first.close()  # the process ends: its session, and the lock, go with it
        for _ in range(50):
            if await second.publish_pending():
                break
            await asyncio.sleep(0.1)
        assert second.leader
    finally:
        await first.close()
        await second.close()
    published = await bus.wait_for(lambda r: r.key == account_id, count=2)
    assert [r.event.id for r in published] == [one.id, two.id]


async def test_published_rows_are_pruned_after_their_keep_time_and_unpublished_ones_never(
        relay_pool, producer, bus, account_id):
    pool = relay_pool
    sent, waiting = group_created(account_id, "sent"), group_created(account_id, "waiting")
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, sent)
    relay = OutboxRelay(SERVICE, pool, producer, keep_published_s=60)
    while await relay.publish_pending():
        pass
    async with pool.acquire() as conn, conn.transaction():
        await outbox.stage(conn, SERVICE, waiting)  # committed, not published yet
    assert await relay.prune() == 0  # published a moment ago: kept for its minute
    await pool.execute("UPDATE outbox SET published_at = now() - interval '61 seconds' WHERE event_id = $1", sent.id)
    assert await relay.prune() >= 1
    left = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox")}
    assert sent.id not in left and waiting.id in left


async def test_a_woken_relay_gathers_the_commits_that_follow_into_one_pass(stack, relay_pool, producer, bus, account_id):
    pool = relay_pool
    dsn = stack.admin_url.rsplit("/", 1)[0] + "/" + await pool.fetchval("SELECT current_database()")
    relay = OutboxRelay(SERVICE, pool, producer, dsn=dsn, gather_s=0.4)
    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.leader, timeout=30, every=0.05, what="the relay listening and holding its lock")
        await asyncio.sleep(0.1)
        events = [group_created(account_id, f"gathered{i}") for i in range(3)]
        for event in events:  # three commits, each with its NOTIFY, well inside the gathering time
            async with pool.acquire() as conn, conn.transaction():
                await outbox.stage(conn, SERVICE, event)
            await asyncio.sleep(0.05)
        published = await bus.wait_for(lambda r: r.key == account_id, count=3)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await relay.close()
    assert [r.event.id for r in published] == [e.id for e in events]
    # One pass marks what it published in one statement, so they share its transaction's time.
    marked = await pool.fetch("SELECT DISTINCT published_at FROM outbox WHERE event_id = ANY($1)", [e.id for e in events])
    assert len(marked) == 1
