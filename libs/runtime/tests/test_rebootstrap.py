"""A client whose known brokers are all gone reads metadata from its bootstrap addresses again
(`crm_runtime.rebootstrap`), against the real broker; a plain aiokafka client, the control, does not."""

from __future__ import annotations

import socket

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.cluster import BrokerMetadata

from crm_runtime.rebootstrap import rebootstrapping

pytestmark = pytest.mark.stack
TOPIC = "identity.events.v1"


def nobody_listens() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def forget_every_broker(client) -> bool:
    """What a client holds after the brokers it learned of went away (one broker, at an address
    nobody listens on), then one metadata update; returns whether it succeeded."""
    client.cluster._brokers = {99: BrokerMetadata(99, "127.0.0.1", nobody_listens(), None)}
    return await client._metadata_update(client.cluster, [TOPIC])


async def test_a_client_with_no_known_broker_left_asks_its_bootstrap_addresses(stack):
    producer = rebootstrapping(AIOKafkaProducer(**stack.kafka.args()))
    consumer = rebootstrapping(AIOKafkaConsumer(**stack.kafka.args(), group_id=None, enable_auto_commit=False))
    await producer.start()
    await consumer.start()
    try:
        wanted = {int(address.rsplit(":", 1)[1]) for address in stack.bootstrap.split(",")}
        for client in (producer.client, consumer._client):
            assert await forget_every_broker(client)
            assert {b.port for b in client.cluster.brokers()} == wanted
            assert len(client.cluster.partitions_for_topic(TOPIC)) == 6
    finally:
        await consumer.stop()
        await producer.stop()


async def test_control_a_plain_client_stays_without_a_broker(stack):
    """If this fails, aiokafka rebootstraps by itself and `crm_runtime.rebootstrap` can go."""
    producer = AIOKafkaProducer(**stack.kafka.args())
    await producer.start()
    try:
        assert not await forget_every_broker(producer.client)
        assert {b.nodeId for b in producer.client.cluster.brokers()} == {99}
    finally:
        await producer.stop()
