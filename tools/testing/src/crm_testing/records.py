"""Kafka records as a consumer hands them over, for tests that feed the runtime directly."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from crm_contracts import CloudEvent


def consumer_record(value: CloudEvent | bytes, *, topic: str = "identity.commands.v1", partition: int = 0,
                    offset: int = 0, key: str = "k", timestamp: int = 0, timestamp_type: int = 0,
                    headers: Sequence[tuple[str, bytes | None]] = ()) -> ConsumerRecord:
    """One record carrying `value` (an event is written as the services write it)."""
    raw = value if isinstance(value, bytes) else value.to_json()
    return ConsumerRecord(topic=topic, partition=partition, offset=offset, timestamp=timestamp,
                          timestamp_type=timestamp_type, key=key.encode(), value=raw, checksum=None,
                          serialized_key_size=len(key), serialized_value_size=len(raw), headers=tuple(headers))
