"""`crm topics`: the topics on the cluster with their partitions, and adding partitions.

Every topic of the contract is keyed (by account or by instance) and its consumers rely on one
key's records staying in one partition, in order. Kafka picks a key's partition by hashing it over
the partition count, so adding partitions to a live keyed topic sends most keys to another
partition from then on: a key's next records can be handled before the ones still waiting in its
old partition. Growing such a topic is a migration (a new topic version, the old one drained —
docs/guide.md "Partitions and scaling"), so `crm topics partitions` refuses a keyed topic unless told
`--i-understand-ordering`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import typer
from rich import box
from aiokafka.admin import NewPartitions
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from crm_contracts import TOPICS

from . import kafka
from .common import BOOTSTRAP, JSON, Listing, console, err, run
from .connection import Cluster

topics_app = typer.Typer(help="Topics on the cluster: list them, add partitions.", no_args_is_help=True)


def key_of(topic: str) -> str | None:
    """What a topic's records are keyed by (a dead-letter topic keeps its source's keys), or None."""
    spec = TOPICS.get(topic.removesuffix(".dlq"))
    return spec.key_rule.value if spec is not None else None


@dataclass(frozen=True)
class TopicShape:
    partitions: int
    replicas: int
    behind: int  # partitions with a replica out of sync (a broker down or catching up)
    min_insync: str = "-"


async def _partitions(cluster: Cluster, with_configs: bool = False) -> dict[str, TopicShape]:
    """Each topic's partition count, replication factor and under-replicated partitions, and with
    `with_configs` the replicas a write needs (`min.insync.replicas`)."""
    async with kafka.started(kafka.admin(cluster)) as admin:
        described = [t for t in await admin.describe_topics() if not t["topic"].startswith("__")]
        insync: dict[str, str] = {}
        if with_configs and described:
            for response in await admin.describe_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, t["topic"]) for t in described]):
                for _error, _message, _type, name, entries, *_ in response.resources:
                    insync[name] = next((e[1] for e in entries if e[0] == "min.insync.replicas"), "-")
    return {t["topic"]: TopicShape(len(t["partitions"]),
                                   len(t["partitions"][0]["replicas"]) if t["partitions"] else 0,
                                   sum(len(p["isr"]) < len(p["replicas"]) for p in t["partitions"]),
                                   insync.get(t["topic"], "-"))
            for t in described}


@topics_app.command("list")
def topics_list(bootstrap: str | None = BOOTSTRAP, as_json: bool = JSON) -> None:
    """Every topic with its partitions, replication, the replicas a write needs, the partitions
    with a replica out of sync, and its key."""
    async def work() -> int:
        found = await _partitions(Cluster.from_env(bootstrap), with_configs=True)
        # replicas: of each partition; min insync: replicas a write needs (min.insync.replicas);
        # behind: partitions with a replica out of sync.
        listing = Listing("topic", "partitions", "replicas", "min insync", "behind", "keyed by", as_json=as_json,
                          box=box.SIMPLE_HEAD)
        for name, shape in sorted(found.items()):
            listing.add(name, shape.partitions, shape.replicas, shape.min_insync, shape.behind, key_of(name),
                        styles={"behind": "yellow"} if shape.behind else None)
        listing.show()
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
        now = found[topic].partitions
        if count <= now:
            err.print(f"[red]{topic} has {now} partitions[/]; a topic's partitions can only be added to")
            return 2
        key = key_of(topic)
        if key is not None and not i_understand_ordering:
            err.print(f"[red]refused[/]: {topic} is keyed by {key}. Going from {now} to {count} partitions moves "
                      f"most {key}s to another partition, and a {key}'s new records can then be handled before "
                      "its older ones. Migrate to a new topic version instead (docs/guide.md \"Partitions and "
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
            if (await _partitions(cluster))[topic].partitions == count:
                break
            await asyncio.sleep(0.1)
        console.print(f"{topic}: {now} → {count} partitions")
        return 0

    run(work())
