"""`crm topics`: the topics on the cluster with their partitions, and adding partitions.

Every topic of the contract is keyed (by account or by instance) and its consumers rely on one
key's records staying in one partition, in order. Kafka picks a key's partition by hashing it over
the partition count, so adding partitions to a live keyed topic sends most keys to another
partition from then on: a key's next records can be handled before the ones still waiting in its
old partition. Growing such a topic is a migration (a new topic version, the old one drained —
README "Partitions and scaling"), so `crm topics partitions` refuses a keyed topic unless told
`--i-understand-ordering`.
"""

from __future__ import annotations

import asyncio

import typer
from aiokafka.admin import NewPartitions
from aiokafka.errors import KafkaError
from rich.table import Table

from crm_contracts import TOPICS

from . import kafka
from .common import BOOTSTRAP, console, err, run
from .connection import Cluster

topics_app = typer.Typer(help="Topics on the cluster: list them, add partitions.", no_args_is_help=True)


def key_of(topic: str) -> str | None:
    """What a topic's records are keyed by (a dead-letter topic keeps its source's keys), or None."""
    spec = TOPICS.get(topic.removesuffix(".dlq"))
    return spec.key_rule.value if spec is not None else None


async def _partitions(cluster: Cluster) -> dict[str, tuple[int, int]]:
    """Each topic's partition count and replication factor."""
    async with kafka.started(kafka.admin(cluster)) as admin:
        described = await admin.describe_topics()
    return {t["topic"]: (len(t["partitions"]), len(t["partitions"][0]["replicas"]) if t["partitions"] else 0)
            for t in described if not t["topic"].startswith("__")}


@topics_app.command("list")
def topics_list(bootstrap: str | None = BOOTSTRAP) -> None:
    """Every topic with its partitions, replication factor and key."""
    async def work() -> int:
        found = await _partitions(Cluster.from_env(bootstrap))
        table = Table()
        for col in ("topic", "partitions", "replicas", "keyed by"):
            table.add_column(col)
        for name, (partitions, replicas) in sorted(found.items()):
            table.add_row(name, str(partitions), str(replicas), key_of(name) or "-")
        console.print(table)
        return 0

    run(work())


@topics_app.command("partitions")
def add_partitions(topic: str = typer.Argument(..., help="the topic to grow"),
                   count: int = typer.Option(..., "--count", help="the new total number of partitions"),
                   i_understand_ordering: bool = typer.Option(
                       False, "--i-understand-ordering",
                       help="grow a keyed topic anyway: its keys move to other partitions from now on"),
                   bootstrap: str | None = BOOTSTRAP) -> None:
    """Raise a topic's partition count (Kafka cannot lower it)."""
    async def work() -> int:
        cluster = Cluster.from_env(bootstrap)
        found = await _partitions(cluster)
        if topic not in found:
            raise kafka.UnknownTopic(f"no topic {topic} on {cluster.bootstrap}")
        now = found[topic][0]
        if count <= now:
            err.print(f"[red]{topic} has {now} partitions[/]; a topic's partitions can only be added to")
            return 2
        key = key_of(topic)
        if key is not None and not i_understand_ordering:
            err.print(f"[red]refused[/]: {topic} is keyed by {key}. Going from {now} to {count} partitions moves "
                      f"most {key}s to another partition, and a {key}'s new records can then be handled before "
                      "its older ones. Migrate to a new topic version instead (README \"Partitions and "
                      "scaling\"), or pass --i-understand-ordering with every producer and consumer stopped "
                      "and the topic drained.")
            return 2
        try:
            async with kafka.started(kafka.admin(cluster)) as admin:
                await admin.create_partitions({topic: NewPartitions(total_count=count)})
        except KafkaError as exc:
            err.print(f"[red]the cluster refused[/]: {exc!r}")
            return 1
        for _ in range(50):  # until the cluster's metadata shows them
            if (await _partitions(cluster))[topic][0] == count:
                break
            await asyncio.sleep(0.1)
        console.print(f"{topic}: {now} → {count} partitions")
        return 0

    run(work())
