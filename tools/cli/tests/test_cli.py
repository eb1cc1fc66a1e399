"""`crm` against the live stack, run as a person runs it: a process, its output and exit code."""

from __future__ import annotations

import json
import uuid

import pytest

from crm_contracts import command, identity, seats
from crm_devstack.dates import period_args

from cli_helpers import crm

pytestmark = pytest.mark.stack


def create(account_id: str) -> dict:
    return {"account_id": account_id, "name": "CLI Realty", "tier": "enterprise",
            "owner": {"user_id": f"{account_id}_o", "email": "o@example.com", "first_name": "O", "last_name": "P"}}


async def test_publish_waits_for_the_answer(stack, account_id):
    code, out, _ = await crm("publish", "identity.account.create", "--account", account_id,
                             "--data", json.dumps(create(account_id)), "--wait", "-b", stack.bootstrap)
    assert code == 0
    assert "identity.account.created" in out and account_id in out


async def test_publish_explains_a_rejection_with_its_exit_code(stack, account_id):
    code, out, _ = await crm("publish", "identity.account.set_opt_in", "--account", account_id,
                             "--data", '{"enabled": true}', "--wait", "-b", stack.bootstrap)
    assert code == 1 and "identity.command.rejected" in out and "unknown_account" in out


async def test_data_outside_the_contract_is_explained_and_nothing_is_sent(stack, bus, account_id):
    code, _, err = await crm("publish", "seats.subscription.set", "--account", account_id,
                             "--data", '{"seats_total": 3000000000, "seat_price_cents": 1, "currency": "usd"}',
                             "-b", stack.bootstrap)
    assert code == 2
    for field in ("seats_total", "currency", "period_start", "period_end"):
        assert field in err
    marker = await bus.command(seats.SetSubscription(seats_total=1, seat_price_cents=1, currency="USD",
                                                     **period_args()),
                               accountid=account_id)
    await bus.wait_event("seats.subscription.changed", correlationid=marker.id)
    assert len(bus.matching(lambda r: r.topic.startswith("seats.commands") and r.key == account_id)) == 1


async def test_unknown_types_topics_and_brokers_are_one_line_not_a_traceback(stack):
    code, _, err = await crm("publish", "identity.acount.create", "--account", "a", "--data", "{}")
    assert code == 2 and "identity.account.create" in err and "Traceback" not in err
    code, _, err = await crm("watch", "no.such.topic", "--idle", "1", "-b", stack.bootstrap)
    assert code == 2 and "no topic no.such.topic" in err
    code, _, err = await crm("lag", "-b", "127.0.0.1:1")
    assert code == 3 and "cannot reach Kafka" in err and "Traceback" not in err


async def test_watch_filters_by_account_and_type(stack, bus, account_id):
    other = account_id + "_other"
    for acc in (other, account_id):
        cmd = await bus.command(identity.CreateAccount.model_validate(create(acc)), accountid=acc)
        await bus.wait_event("identity.account.created", correlationid=cmd.id)
    code, out, _ = await crm("watch", "identity.events.v1", "--account", account_id, "--type", "identity.account.*",
                             "--since", "5m", "--json", "--count", "1", "--idle", "15", "-b", stack.bootstrap)
    assert code == 0
    [line] = out.splitlines()
    event = json.loads(line)["event"]
    assert event["accountid"] == account_id and event["type"] == "identity.account.created"


async def test_trace_shows_an_opt_in_acceptance_as_a_tree(stack, bus, account_id):
    for data in (identity.CreateAccount.model_validate(create(account_id)),
                 seats.SetSubscription(seats_total=2, seat_price_cents=4900, currency="USD",
                                       **period_args()),
                 identity.SetOptIn(enabled=True)):
        await bus.command(data, accountid=account_id)
    await stack.settled()
    add = await bus.command(identity.AddMember(user_id="ana", email="ana@example.com", first_name="Ana",
                                               last_name="A", user_type="platform", activation="opt_in",
                                               group_id=None, role="agent", by_user_id=f"{account_id}_o"),
                           accountid=account_id)
    [issued] = await bus.wait_event("identity.invitation.issued", correlationid=add.id)
    accept = await bus.command(identity.AcceptInvitation(token=stack.auth.invitation_link(issued).split("token=")[1]),
                               accountid=account_id)
    await bus.wait_event("seats.seat.reserved", correlationid=accept.id)
    await stack.settled()
    code, out, _ = await crm("trace", accept.id, "--since", "10m", "-b", stack.bootstrap)
    assert code == 0
    lines = out.splitlines()
    depth = {t: next(len(line) - len(line.lstrip("│ ├└─")) for line in lines if t in line)
             for t in ("identity.invitation.accept ", "identity.invitation.accepted", "seats.seat.reserved")}
    # The command is the root's child; the acceptance is caused by it; the seat by the acceptance.
    assert depth["identity.invitation.accept "] < depth["identity.invitation.accepted"] < depth["seats.seat.reserved"]
    assert " ms " in out
    # The invitation's own saga, from the command to the e-mail that carried the link.
    code, out, _ = await crm("trace", add.id, "--since", "10m", "-b", stack.bootstrap)
    assert code == 0
    order = [t for t in ("identity.member.add ", "identity.invitation.issued", "notifications.email.sent") if t in out]
    assert order == ["identity.member.add ", "identity.invitation.issued", "notifications.email.sent"]
    assert out.index("identity.invitation.issued") < out.index("notifications.email.sent")


async def test_a_dead_letter_replayed_is_handled_and_a_second_replay_changes_nothing(stack, bus, account_id):
    """A command that failed once (say, while a bug was live) waits in the dead-letter topic; once
    the cause is fixed it is replayed to where it came from. Replaying it again does nothing."""
    failed = command(identity.CreateAccount.model_validate(create(account_id)), source="test", accountid=account_id)
    await bus.producer.send_and_wait("identity.commands.v1.dlq", failed.to_json(), key=account_id.encode(), headers=[
        ("ce_type", b"identity.account.create"), ("dlq_reason", b"handler_error"), ("dlq_error", b"a bug, since fixed"),
        ("dlq_source_topic", b"identity.commands.v1"), ("dlq_source_partition", b"0"),
        ("dlq_source_offset", b"0"), ("dlq_consumer_group", b"crm-identity"), ("dlq_failed_at", b"2026-11-24T00:00:00Z")])
    [dead] = await bus.wait_for(lambda r: r.topic == "identity.commands.v1.dlq" and r.key == account_id)
    where = ["--offset", str(dead.offset), "--partition", str(dead.partition), "-b", stack.bootstrap]

    code, out, _ = await crm("dlq", "show", "identity.commands.v1", str(dead.offset), "-p", str(dead.partition),
                             "-b", stack.bootstrap)
    assert code == 0 and "a bug, since fixed" in out and failed.id in out
    code, out, err = await crm("dlq", "replay", "identity.commands.v1", "--dry-run", *where)
    assert code == 0 and "would replay" in out, (out, err)
    await stack.settled()
    early = bus.matching(lambda r: r.event is not None and failed.id in (r.event.id, r.event.correlationid))
    assert [(r.topic, r.offset, r.headers) for r in early] == [(dead.topic, dead.offset, dead.headers)]

    for _ in range(2):
        code, out, err = await crm("dlq", "replay", "identity.commands.v1", *where)
        assert code == 0 and "replayed" in out, (out, err)
    await bus.wait_event("identity.account.created", correlationid=failed.id)
    await stack.settled()
    assert len(bus.events(lambda e: e.correlationid == failed.id)) == 1  # the inbox knew the second
    replayed = bus.matching(lambda r: r.topic == "identity.commands.v1" and r.key == account_id)
    assert len(replayed) == 2 and all(r.headers["crm_replay_of"].startswith("identity.commands.v1.dlq/")
                                      for r in replayed)


async def test_a_replay_is_byte_exact_and_an_offset_needs_its_partition(stack, producer):
    """A dead letter goes back with its key, value and headers as they were, bytes that are not
    UTF-8 included; an offset found in two partitions is refused until the partition is named."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    source = "crm-test-replay-" + uuid.uuid4().hex[:8]
    admin = AIOKafkaAdminClient(**stack.kafka.args())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, stack.replication) for name in (source, f"{source}.dlq")])
    finally:
        await admin.close()
    key, value = b"\xffkey\x00", b"\x00\x01 not json \xfe"
    kept = [("trace", b"\xff\xfe\x00"), ("ce_type", b"identity.account.create"), ("empty", b"")]
    for partition in (0, 1):  # offset 0 in both partitions
        await producer.send_and_wait(f"{source}.dlq", value, key=key, partition=partition, headers=[
            *kept, ("dlq_reason", b"invalid_json"), ("dlq_source_topic", source.encode())])

    code, _, err = await crm("dlq", "replay", source, "--offset", "0", "-b", stack.bootstrap)
    assert code == 2 and "partitions 0, 1" in err, err
    code, out, err = await crm("dlq", "replay", source, "--offset", "0", "--partition", "1", "-b", stack.bootstrap)
    assert code == 0 and "replayed" in out, (out, err)

    consumer = AIOKafkaConsumer(**stack.kafka.args(), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(source, 0), TopicPartition(source, 1)])
        await consumer.seek_to_beginning()
        got = []
        for _ in range(10):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(records)
            if got:
                break
    finally:
        await consumer.stop()
    assert [(r.key, r.value, list(r.headers)) for r in got] == [
        (key, value, [*kept, ("crm_replay_of", f"{source}.dlq/1/0".encode())])]


async def test_events_set_aside_are_listed_and_requeued_to_the_topic(stack, bus, account_id):
    """A row the relay set aside (here: as a missing grant once did) is listed with its error and,
    once requeued, published with its own event id."""
    import asyncpg

    event = command(identity.GroupCreated(group_id="g", name="Aside", parent_group_id=None), source="crm/identity",
                    accountid=account_id)
    conn = await asyncpg.connect(stack.database_url("identity").replace("crm_identity@", "crm@"))
    try:
        row_id = await conn.fetchval(
            """INSERT INTO outbox_dead (id, event_id, topic, key, type, payload, created_at, error)
               VALUES (-1 * (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, $1, $2, $3, $4, $5, now(),
                       'TopicAuthorizationFailedError()') RETURNING id""",
            event.id, event.topic, event.key, event.type, event.to_json())
    finally:
        await conn.close()
    url = ["--database-url", stack.database_url("identity")]
    code, out, _ = await crm("outbox", "list", "identity", *url)
    assert code == 0 and event.id in out and "TopicAuthorization" in out
    code, out, err = await crm("outbox", "requeue", "identity", "--id", str(row_id), *url)
    assert code == 0 and "1 events back" in out, (out, err)
    [published] = await bus.wait_for(lambda r: r.key == account_id and r.topic == "identity.events.v1")
    assert published.event.id == event.id
    code, out, _ = await crm("outbox", "requeue", "identity", "--id", str(row_id), *url)
    assert code == 1 and "0 events back" in out  # nothing left to requeue
    code, _, err = await crm("outbox", "list", "nosuch")
    assert code == 2 and "no service" in err


async def test_lag_grows_while_a_service_is_stopped_and_drains_after(stack, bus, account_id):
    if stack.pg_url:
        pytest.skip("the services are not ours to stop")
    stack.services.stop("seats")
    try:
        for i in range(5):
            await bus.command(seats.SetSubscription(seats_total=i + 1, seat_price_cents=1, currency="USD",
                                                    **period_args()),
                              accountid=account_id)
        code, out, _ = await crm("lag", "-b", stack.bootstrap)
        assert code == 0
        behind = next(line for line in out.splitlines() if line.startswith(f"crm-seats{stack.group_suffix}:"))
        assert int(behind.split(":")[1].split()[0]) >= 5
    finally:
        stack.services.start("seats")
        await stack.health.wait("seats")
    await stack.settled()
    code, out, _ = await crm("lag", "-b", stack.bootstrap)
    assert f"crm-seats{stack.group_suffix}: 0 behind" in out


async def test_partitions_are_not_added_to_a_keyed_topic_without_saying_so(stack):
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**stack.kafka.args())
    await admin.start()

    async def partitions(topic: str) -> int:
        return len((await admin.describe_topics([topic]))[0]["partitions"])

    scratch = f"crm-cli-scratch-{uuid.uuid4().hex[:8]}"
    try:
        before = await partitions("identity.commands.v1")
        code, _, err = await crm("topics", "partitions", "identity.commands.v1", "--count", str(before + 2),
                                 "-b", stack.bootstrap)
        assert code == 2 and "refused" in err and "accountid" in err and "--i-understand-ordering" in err
        assert await partitions("identity.commands.v1") == before
        # A topic outside the contract has no keys to move: it grows, and never shrinks.
        await admin.create_topics([NewTopic(scratch, 1, stack.replication)])
        code, out, _ = await crm("topics", "partitions", scratch, "--count", "3", "-b", stack.bootstrap)
        assert code == 0 and "1 → 3" in out
        assert await partitions(scratch) == 3
        code, _, err = await crm("topics", "partitions", scratch, "--count", "2", "-b", stack.bootstrap)
        assert code == 2 and "can only be added to" in err
        code, out, _ = await crm("topics", "list", "-b", stack.bootstrap)
        rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip().startswith("identity.")}
        # partitions, replicas, replicas a write needs, partitions behind, key
        assert code == 0 and rows["identity.commands.v1"] == [
            "6", str(stack.replication), str(max(1, stack.replication - 1)), "0", "accountid"]
    finally:
        if scratch in await admin.list_topics():
            await admin.delete_topics([scratch])
        await admin.close()


async def test_a_dead_letter_goes_back_only_to_its_own_topic_whatever_its_headers_say(stack, producer):
    """A record planted in `X.dlq` naming another topic in `dlq_source_topic` is not replayed: a
    principal that may write a dead-letter topic cannot use the operator's replay to reach others."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    source, elsewhere = ("crm-test-planted-" + uuid.uuid4().hex[:8] for _ in range(2))
    admin = AIOKafkaAdminClient(**stack.kafka.args())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, stack.replication)
                                   for name in (source, f"{source}.dlq", elsewhere)])
    finally:
        await admin.close()
    await producer.send_and_wait(f"{source}.dlq", b"{}", key=b"k", headers=[
        ("dlq_reason", b"invalid_json"), ("dlq_source_topic", elsewhere.encode())])
    code, out, err = await crm("dlq", "replay", source, "--all", "-b", stack.bootstrap)
    assert code == 1 and f"names {elsewhere}" in err and "replayed" not in out, (out, err)

    consumer = AIOKafkaConsumer(**stack.kafka.args(), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(elsewhere, 0), TopicPartition(source, 0)])
        await consumer.seek_to_beginning()
        got = []
        for _ in range(4):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(records)
    finally:
        await consumer.stop()
    assert got == []
