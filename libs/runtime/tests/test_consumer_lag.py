"""`crm_consumer_lag` per partition: the high watermark less what this replica finished, else
less the committed offset it was assigned at; a partition with neither is left out. Read when
scraped, from what the consumer holds."""

from __future__ import annotations

from aiokafka import TopicPartition
from prometheus_client import generate_latest

from crm_runtime import metrics
from crm_runtime.lanes import PartitionedConsumer

A, B, C, D = (TopicPartition("seats.commands.v1", p) for p in range(4))


class Held:
    def __init__(self, ends: dict) -> None:
        self.ends = ends

    def assignment(self) -> set:
        return set(self.ends)

    def highwater(self, tp):
        return self.ends[tp]


class Finished:
    committed = {A: 90}
    pending = {A: 95}


def consumer() -> PartitionedConsumer:
    lanes = object.__new__(PartitionedConsumer)
    lanes.consumer = Held({A: 100, B: 40, C: None, D: 7})  # type: ignore[assignment]
    lanes.committer = Finished()  # type: ignore[assignment]
    lanes._recorded = {B: 10, C: 3, A: 80}
    return lanes


def test_lag_is_the_end_less_what_was_finished_or_committed():
    assert consumer().lag() == {("seats.commands.v1", 0): 5, ("seats.commands.v1", 1): 30}


def seats_lines() -> list[str]:
    return [line for line in generate_latest().decode().splitlines()
            if line.startswith('crm_consumer_lag{crm_service="seats"')]


def test_the_metric_reads_it_when_scraped():
    key = metrics.CONSUMER_LAG.watch("seats", consumer().lag)
    try:
        assert seats_lines() == [
            'crm_consumer_lag{crm_service="seats",partition="0",topic="seats.commands.v1"} 5.0',
            'crm_consumer_lag{crm_service="seats",partition="1",topic="seats.commands.v1"} 30.0']
    finally:
        metrics.CONSUMER_LAG.forget(key)
    assert seats_lines() == []  # a stopped consumer's partitions go with it
