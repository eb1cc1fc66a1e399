"""Prometheus metrics shared by all services; `crm_service` is a label so dashboards can group.

Not `service`: Prometheus's Kubernetes discovery and its operator put `service` (and `job`,
`instance`, `namespace`, `pod`, `container`, `endpoint`) on every series they scrape, and a
target's own label of that name would be renamed `exported_service` or overwritten."""

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MESSAGES_HANDLED = Counter(
    "crm_messages_handled_total",
    "Messages consumed and finished (handled, duplicate, rejected or ignored).",
    ["crm_service", "topic", "type", "outcome"],
)
MESSAGES_FAILED = Counter(
    "crm_messages_failed_total",
    "Handler attempts that raised, by whether the failure was transient.",
    ["crm_service", "topic", "kind"],
)
DEAD_LETTERED = Counter(
    "crm_messages_dead_lettered_total", "Records copied to a dead-letter topic.", ["crm_service", "topic", "reason"]
)
HANDLER_LATENCY = Histogram(
    "crm_handler_seconds",
    "Time from taking a partition's batch to finishing it (transaction committed, dead letters sent).",
    ["crm_service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_BACKLOG = Gauge("crm_outbox_backlog", "Outbox rows not yet published.", ["crm_service"])
OUTBOX_OLDEST_AGE = Gauge(
    "crm_outbox_oldest_age_seconds", "How long the oldest outbox row not yet published has waited (0: none).",
    ["crm_service"],
)
HTTP_SECONDS = Histogram(
    "crm_http_request_seconds", "HTTP requests, by route template, method and status class.",
    ["crm_service", "route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_PUBLISHED = Counter("crm_outbox_published_total", "Outbox rows published.", ["crm_service"])
BATCH_RECORDS = Histogram(
    "crm_batch_records", "Records per processed batch.", ["crm_service", "topic"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
)
GROUPS = Counter(
    "crm_batch_groups_total", "Batches of several partitions tried as one transaction: committed so, or split "
    "into a transaction per partition because something in it failed.", ["crm_service", "outcome"],
)
GROUP_PARTITIONS = Histogram(
    "crm_batch_group_partitions", "Partitions per group tried as one transaction.", ["crm_service"],
    buckets=(2, 3, 4, 6, 8, 12, 16, 24, 32),
)
OUTBOX_SET_ASIDE = Counter(
    "crm_outbox_set_aside_total", "Outbox rows the broker can never take, moved to outbox_dead.",
    ["crm_service", "topic"],
)


class ConsumerLag(Collector):
    """`crm_consumer_lag`: per partition a replica reads, the records after the last one it
    finished (the partition's high watermark as last fetched, less the next offset to commit).
    Computed when scraped, from what the consumer already knows: nothing in the path of a message."""

    def __init__(self) -> None:
        self.sources: dict[int, tuple[str, Callable[[], dict[tuple[str, int], int]]]] = {}

    def watch(self, service: str, lag: Callable[[], dict[tuple[str, int], int]]) -> int:
        self.sources[id(lag)] = (service, lag)
        return id(lag)

    def forget(self, key: int) -> None:
        self.sources.pop(key, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("crm_consumer_lag", "Records of a partition after the last one this replica "
                                   "finished.", labels=["crm_service", "topic", "partition"])
        for service, lag in list(self.sources.values()):
            for (topic, partition), behind in sorted(lag().items()):
                family.add_metric([service, topic, str(partition)], behind)
        yield family


CONSUMER_LAG = ConsumerLag()
REGISTRY.register(CONSUMER_LAG)
