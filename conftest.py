"""Fixtures shared by every test folder: the real stack and a bus client.

The stack is chosen in this order: KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL when both are set;
testcontainers when a Docker engine answers; otherwise the local stack of `make up`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from crm_devstack.bus import Bus
from crm_devstack.stack import Stack

ROOT = Path(__file__).parent


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def infrastructure():
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"):
        yield Stack(kafka_bootstrap=os.environ["KAFKA_BOOTSTRAP_SERVERS"], pg_url=os.environ["DATABASE_URL"],
                    run=ROOT / ".run" / "external")
    elif _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with KafkaContainer("apache/kafka:4.1.0").with_kraft() as kafka, \
                PostgresContainer("postgres:16", driver=None) as pg:
            yield Stack(kafka_bootstrap=kafka.get_bootstrap_server(), pg_url=pg.get_connection_url(),
                        run=ROOT / ".run" / "containers")
    else:
        yield Stack()


@pytest.fixture(scope="session")
async def stack(infrastructure: Stack) -> Stack:
    await infrastructure.up(say=lambda *_: None)
    return infrastructure


@pytest.fixture(scope="session")
async def bus(stack: Stack):
    client = Bus(stack.kafka_args())
    await client.start()
    yield client
    await client.stop()


@pytest.fixture(scope="session")
async def producer(stack: Stack):
    """An idempotent, acks=all producer, as the services have, for tests that publish raw records."""
    from aiokafka import AIOKafkaProducer

    p = AIOKafkaProducer(**stack.kafka_args(), enable_idempotence=True, acks="all")
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def account_id() -> str:
    return "acc_" + uuid.uuid4().hex[:12]
