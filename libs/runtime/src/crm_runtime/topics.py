"""Create every topic of the contract and its dead-letter topic (idempotent), with retention set
on purpose: read models are built from the beginning of events topics, so those keep every event."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from crm_contracts import TOPICS, Direction

from .settings import client_args

PARTITIONS = 6
WEEK_MS = 7 * 24 * 3600 * 1000

# Events topics are the record read models are rebuilt from (routing's roster from
# identity.events.v1, seats' and notifications' views likewise): kept forever. Commands, leads
# and dead letters are kept four weeks — long enough to replay a dead letter after a fix.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
KEEP_FOUR_WEEKS = {"retention.ms": str(4 * WEEK_MS)}


def retention_of(name: str) -> dict[str, str]:
    topic = TOPICS.get(name)
    kept = topic is not None and topic.direction is Direction.EVENTS and not topic.ephemeral
    return KEEP_FOREVER if kept else KEEP_FOUR_WEEKS


def min_insync(replication: int) -> int:
    """Replicas that must hold a record before an `acks=all` producer hears it is written: all but
    one, so losing any one broker neither loses an acknowledged record nor stops writes."""
    return max(1, replication - 1)


# The broker stamps each record with the time it appended it, whatever the producer says: handlers
# take "now" from that stamp (crm_runtime.handlers.platform_time), so no sender chooses the billing
# day, and a replay sees the same time as the first handling.
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


def topic_configs(name: str, replication: int = 1) -> dict[str, str]:
    return {**retention_of(name), **APPEND_TIME, "min.insync.replicas": str(min_insync(replication))}


async def ensure_topics(kafka: str | dict, partitions: int = PARTITIONS, replication: int = 1) -> list[str]:
    """Returns the topics it created; existing ones keep their partitions and replicas and get the
    configuration above (so a cluster created before it was set gets it too)."""
    admin = AIOKafkaAdminClient(**client_args(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for t in TOPICS.values() for n in (t.name, t.dlq)]
        new = [NewTopic(n, partitions, replication, topic_configs=topic_configs(n, replication))
               for n in wanted if n not in existing]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another starter won the race: they exist
                await admin.create_topics(new)
        old = [n for n in wanted if n in existing]
        if old:
            # AlterConfigs replaces a topic's whole configuration: everything set here goes in each time.
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, n,
                                                       configs=topic_configs(n, replication)) for n in old])
        return [t.name for t in new]
    finally:
        await admin.close()
