"""Create every topic of the contract and its dead-letter topic (idempotent)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from crm_contracts import TOPICS

PARTITIONS = 6


async def ensure_topics(bootstrap: str, partitions: int = PARTITIONS) -> list[str]:
    """Returns the topics it created; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for t in TOPICS.values() for n in (t.name, t.dlq)]
        new = [NewTopic(n, partitions, 1) for n in wanted if n not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another starter won the race; the topics exist either way
        return [t.name for t in new]
    finally:
        await admin.close()
