"""A relay pass outlives the sends it starts: cancelled with sends in flight, it would leave rows
unmarked that another replica's relay then publishes a second time."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from crm_runtime.relay import OutboxRelay, RelaySettings
from crm_runtime.settings import ServiceSettings


async def test_a_pass_shorter_than_the_producers_request_timeout_is_refused():
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", request_timeout_ms=40_000)
    with pytest.raises(ValueError, match="must exceed"):
        OutboxRelay("svc", None, producer, settings=RelaySettings(pass_timeout=30.0))
    assert OutboxRelay("svc", None, producer, settings=RelaySettings(pass_timeout=41.0)).settings.pass_timeout == 41.0


@pytest.mark.parametrize("request_timeout", [5.0, 30.0, 120.0])
async def test_the_services_relay_is_given_longer_than_its_producer(request_timeout):
    settings = ServiceSettings(producer_request_timeout_s=request_timeout)
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1",
                                request_timeout_ms=int(settings.producer_request_timeout_s * 1000))
    relay = OutboxRelay("svc", None, producer, settings=RelaySettings.of(settings))
    assert relay.settings.pass_timeout > request_timeout
