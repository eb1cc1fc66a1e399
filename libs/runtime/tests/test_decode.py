"""Unit tests of how a record is judged before any handler runs (no I/O)."""

from __future__ import annotations

import json

import pytest

from crm_contracts import command, identity, seats
from crm_runtime.batches import DeadLetter, decode
from crm_devstack.dates import period_args
from crm_testing.records import consumer_record


GOOD = command(identity.CreateGroup(group_id="g", name="Office", parent_group_id=None),
               source="t", accountid="acc")


def reason_of(value: bytes, topic=identity.COMMANDS) -> str:
    with pytest.raises(DeadLetter) as dead:
        decode(consumer_record(value, topic=topic.name, offset=7), topic)
    return dead.value.reason


def test_a_valid_command_is_typed():
    message, data = decode(consumer_record(GOOD, offset=7), identity.COMMANDS)
    assert message.id == GOOD.id and isinstance(data, identity.CreateGroup)


def test_each_kind_of_malformed_record_has_its_reason():
    body = json.loads(GOOD.to_json())
    assert reason_of(b"\xff\xfe not json") == "invalid_json"
    assert reason_of(b'["a list"]') == "invalid_envelope"
    assert reason_of(json.dumps({**body, "specversion": "0.3"}).encode()) == "invalid_envelope"
    assert reason_of(json.dumps({**body, "data": {"name": "x"}}).encode()) == "invalid_data"
    assert reason_of(json.dumps({**body, "type": "identity.nope"}).encode()) == "unknown_type"


def test_a_type_sent_to_the_wrong_topic_is_dead_lettered_with_where_it_belongs():
    sub = command(seats.SetSubscription(seats_total=1, seat_price_cents=1, currency="USD",
                                        **period_args()),
                  source="t", accountid="acc")
    with pytest.raises(DeadLetter, match="belongs on seats.commands.v1"):
        decode(consumer_record(sub, offset=7), identity.COMMANDS)


def test_an_unknown_event_type_on_an_event_topic_is_tolerated():
    body = {**json.loads(GOOD.to_json()), "type": "identity.something_new"}
    message, data = decode(consumer_record(json.dumps(body).encode(), topic="identity.events.v1", offset=7), identity.EVENTS)
    assert message.type == "identity.something_new" and data is None


def test_now_is_the_brokers_append_time_not_the_senders_claim():
    from datetime import UTC, datetime, timedelta

    from crm_runtime.handlers import platform_time

    claimed = GOOD.model_copy(update={"time": datetime(2031, 1, 1, tzinfo=UTC)})
    appended_ms = 1_800_000_000_000
    stamped = consumer_record(claimed, offset=7, timestamp=appended_ms, timestamp_type=1)  # LogAppendTime
    message, _ = decode(stamped, identity.COMMANDS)
    assert platform_time(message) == datetime.fromtimestamp(appended_ms / 1000, UTC)
    assert message.time == datetime(2031, 1, 1, tzinfo=UTC)  # kept, for audit
    # A record the producer stamped (CreateTime) is not trusted either: this server's clock.
    message, _ = decode(consumer_record(claimed, offset=7), identity.COMMANDS)
    assert abs(platform_time(message) - datetime.now(UTC)) < timedelta(minutes=1)
