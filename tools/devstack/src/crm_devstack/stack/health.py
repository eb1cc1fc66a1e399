"""Whether the services answer, and whether the system has settled: consumer lag and outboxes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from crm_contracts import TOPICS
from crm_runtime.topics import PARTITIONS

from .kafka import KafkaBroker
from .layout import SERVICES, Layout
from .services import ServiceProcesses


@dataclass
class Health:
    """Whether each service answers, and whether the whole has settled."""

    layout: Layout
    kafka: KafkaBroker
    services: ServiceProcesses

    async def of(self, service: str, replica: int = 1) -> dict | None:
        """The service's /health when it is healthy, else None (see `health_report` for why)."""
        report = await self.report(service, replica)
        return report if report and report.get("status") == "ok" else None

    async def report(self, service: str, replica: int = 1) -> dict | None:
        """The service's /health answer whatever its status; None when it does not answer."""
        try:
            async with httpx.AsyncClient(timeout=3) as client:
                return (await client.get(self.layout.http(service, replica) + "/health")).json()
        except (httpx.HTTPError, ValueError):
            return None

    async def wait(self, service: str, timeout: float = 60, replica: int = 1) -> dict:
        deadline = time.monotonic() + timeout
        log = self.layout.logs / f"{self.layout.process_name(service, replica)}.log"
        while time.monotonic() < deadline:
            if not self.services.pid(service, replica):
                raise RuntimeError(f"{service} exited; see {log}")
            health = await self.of(service, replica)
            if health and health.get("pid") == self.services.pid(service, replica):
                return health
            await asyncio.sleep(0.3)
        raise RuntimeError(f"{service} not healthy after {timeout}s; see {log}")

    async def settled(self, timeout: float = 60) -> None:
        """Until the system has nothing left to do: every service's consumer group has committed
        up to the end of each partition it reads and every outbox is empty, twice in a row with
        no new record. What tests use to show that nothing else will arrive, instead of a sleep."""
        from aiokafka import AIOKafkaConsumer

        admin = AIOKafkaAdminClient(**self.kafka.args())
        ends_reader = AIOKafkaConsumer(**self.kafka.args(), enable_auto_commit=False)
        await admin.start()
        await ends_reader.start()
        deadline = time.monotonic() + timeout
        try:
            calm, last_ends = 0, None
            while calm < 2:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the system did not settle in {timeout}s")
                ends, behind, _ = await self._consumption(admin, ends_reader)
                healths = [await self.of(service) for service in SERVICES]
                idle = not behind and all(h and h.get("outbox_backlog") == 0 and not h.get("deliveries_due")
                                          for h in healths)
                calm = calm + 1 if idle and ends == last_ends else 0
                last_ends = ends
                await asyncio.sleep(0.15)
        finally:
            await ends_reader.stop()
            await admin.close()

    async def _consumption(self, admin, ends_reader) -> tuple[dict, list[str], dict[str, int]]:
        """End offsets, the partitions a group has not committed to the end of, and each
        service's lag in records."""
        from aiokafka import TopicPartition

        tps = [TopicPartition(t, p) for t in TOPICS for p in range(PARTITIONS)]
        ends = await ends_reader.end_offsets(tps)
        behind, lag = [], {}
        for service in SERVICES:
            group = f"crm-{service}{self.layout.group_suffix}"
            offsets = await admin.list_consumer_group_offsets(group)
            lag[service] = 0
            for topic in {tp.topic for tp in offsets}:
                for p in range(PARTITIONS):
                    tp = TopicPartition(topic, p)
                    done = offsets[tp].offset if tp in offsets else 0
                    if done < ends.get(tp, 0):
                        behind.append(f"{group} {topic}/{p}")
                        lag[service] += ends[tp] - done
        return ends, behind, lag

    async def lag(self) -> dict[str, int]:
        """Records each service's consumer group has yet to commit, over every topic it reads."""
        from aiokafka import AIOKafkaConsumer

        admin = AIOKafkaAdminClient(**self.kafka.args())
        ends_reader = AIOKafkaConsumer(**self.kafka.args(), enable_auto_commit=False)
        await admin.start()
        await ends_reader.start()
        try:
            return (await self._consumption(admin, ends_reader))[2]
        finally:
            await ends_reader.stop()
            await admin.close()
