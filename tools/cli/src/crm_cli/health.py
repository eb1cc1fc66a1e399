"""`crm lag` and `crm status`: how far behind each consumer group is, and each service's health."""

from __future__ import annotations

import httpx
import typer

from . import kafka
from .common import BOOTSTRAP, JSON, SERVICES, Listing, run
from .connection import Cluster


def lag(bootstrap: str | None = BOOTSTRAP, as_json: bool = JSON) -> None:
    """Records not yet consumed, per consumer group, topic and partition, and per service in total."""

    async def go() -> int:
        cluster = Cluster.from_env(bootstrap)
        listing = Listing("group", "topic", "partition", "committed", "end", "lag", as_json=as_json)
        totals: dict[str, int] = {}
        async with kafka.started(kafka.admin(cluster)) as client:
            groups = sorted(g[0] for g in await client.list_consumer_groups() if g[0].startswith("crm-"))
            offsets = {g: await client.list_consumer_group_offsets(g) for g in groups}
        reader = kafka.AIOKafkaConsumer(**cluster.client_args(), enable_auto_commit=False)
        async with kafka.started(reader):
            await reader.topics()  # the cluster's metadata, for every topic's partitions
            # Every partition of each topic a group reads, committed or not: a partition the group
            # has never committed is read from its beginning (the services start at the earliest).
            read_by = {g: sorted({kafka.TopicPartition(tp.topic, p) for tp in o
                                  for p in reader.partitions_for_topic(tp.topic) or ()}) for g, o in offsets.items()}
            tps = sorted({tp for parts in read_by.values() for tp in parts})
            ends = await reader.end_offsets(tps) if tps else {}
            starts = await reader.beginning_offsets(tps) if tps else {}
        for group in groups:
            for tp in read_by[group]:
                done = offsets[group][tp].offset if tp in offsets[group] else starts[tp]
                behind = max(0, ends[tp] - done)
                totals[group] = totals.get(group, 0) + behind
                if behind:
                    listing.add(group, tp.topic, tp.partition, done, ends[tp], behind)
        listing.show()
        for group, total in totals.items():
            listing.say(f"{group}: {total} behind", style="bold red" if total else "green")
        return 0

    run(go())


def status(urls: list[str] = typer.Option(None, "--service", help="name=http://host:port (repeatable)"),
           replicas: int = typer.Option(2, help="local replicas to look for (ports +100 each)"),
           as_json: bool = JSON) -> None:
    """Each service's /health and key metrics in one table."""
    targets = dict(u.split("=", 1) for u in urls) if urls else {
        (name if r == 1 else f"{name}-{r}"): f"http://127.0.0.1:{port + 100 * (r - 1)}"
        for name, port in SERVICES.items() for r in range(1, replicas + 1)}

    async def go() -> int:
        listing = Listing("service", "status", "pid", "outbox backlog", "handled", "dead-lettered", "problems",
                          as_json=as_json)
        unhealthy = 0
        async with httpx.AsyncClient(timeout=3) as client:
            for name, url in targets.items():
                try:
                    health = (await client.get(url + "/health")).json()
                    metrics = (await client.get(url + "/metrics")).text
                except (httpx.HTTPError, ValueError):
                    if "-" not in name:  # a replica that is not running is no news
                        listing.add(name, "no answer", None, None, None, None, url, styles={"status": "red"})
                        unhealthy += 1
                    continue
                ok = health.get("status") == "ok"
                unhealthy += not ok
                listing.add(name, health.get("status"), health.get("pid"), health.get("outbox_backlog"),
                            _sum(metrics, "crm_messages_handled_total"),
                            _sum(metrics, "crm_messages_dead_lettered_total"), "; ".join(health.get("problems", [])),
                            styles={"status": "green" if ok else "red"})
        listing.show()
        return 3 if unhealthy else 0

    run(go())



def _sum(metrics: str, name: str) -> int:
    return round(sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name + "{")))
