"""Each service reaches Kafka as its own principal, and the broker's ACLs hold it to its topics:
it reads its inputs and writes only its own events topic and the dead-letter twins of its inputs.
Runs on a stack started with CRM_KAFKA_SASL=1 (CI runs the end-to-end suite on one)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

pytestmark = pytest.mark.stack


@pytest.fixture
def sasl_stack(stack):
    if not stack.sasl:
        pytest.skip("the broker runs without SASL/ACLs; start the stack with CRM_KAFKA_SASL=1")
    return stack


async def send(stack, user: str, topic: str, **login) -> int:
    producer = AIOKafkaProducer(**{**stack.kafka.args(user), **login}, enable_idempotence=True, acks="all",
                                request_timeout_ms=5000)
    await producer.start()
    try:
        return (await asyncio.wait_for(producer.send_and_wait(topic, b"not an event", key=b"acl-test"), 20)).offset
    finally:
        await producer.stop()


async def test_seats_cannot_publish_to_identity_events(sasl_stack):
    with pytest.raises(TopicAuthorizationFailedError):
        await send(sasl_stack, "seats", "identity.events.v1")
    # Its own dead letters of what it reads are its to write (nobody consumes them but operators).
    assert await send(sasl_stack, "seats", "identity.events.v1.dlq") >= 0


@pytest.mark.parametrize(("user", "topic"), [("identity", "seats.events.v1"), ("notifications", "identity.events.v1"),
                                             ("routing", "seats.commands.v1"), ("seats", "seats.commands.v1")])
async def test_no_service_writes_what_is_not_its_own(sasl_stack, user, topic):
    with pytest.raises(TopicAuthorizationFailedError):
        await send(sasl_stack, user, topic)


async def test_each_service_grant_follows_what_its_app_reads(sasl_stack):
    grants = sasl_stack.kafka.acls()
    assert grants["seats"]["write"] == ["seats.events.v1", "seats.commands.v1.dlq", "identity.events.v1.dlq"]
    assert grants["routing"]["read"] == ["routing.commands.v1", "leads.captured.v1", "identity.events.v1"]
    env = sasl_stack.services.env("seats")
    assert (env["KAFKA_SASL_USERNAME"], env["KAFKA_SECURITY_PROTOCOL"]) == ("seats", "SASL_PLAINTEXT")


async def test_a_wrong_password_or_no_login_gets_nowhere(sasl_stack):
    with pytest.raises(KafkaError):
        await send(sasl_stack, "seats", "seats.events.v1", sasl_plain_password="wrong")
    with pytest.raises(KafkaError):
        await send(sasl_stack, "seats", "seats.events.v1", security_protocol="PLAINTEXT", sasl_mechanism="PLAIN")
