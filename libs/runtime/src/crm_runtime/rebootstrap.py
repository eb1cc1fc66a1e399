"""Going back to the bootstrap addresses when no broker a client knows answers (Kafka's KIP-899,
`metadata.recovery.strategy=rebootstrap`, which aiokafka 0.12 does not have).

aiokafka asks only the brokers of its last metadata for new metadata, and refreshes it every five
minutes or on an error. After two of three brokers were down, a client's last metadata names only
the one that stayed up; the other two come back, nothing errs, and the client does not learn of
them. If that broker then fails, the client has no one left to ask and waits for it to return,
though the cluster runs on the other two (measured by `make chaos` on the cluster: commands waited
23 s, answered 11 s after the killed broker came back, instead of within its leader election).

With this, a metadata update that no known broker answered asks the bootstrap addresses, through
the client's own connections (same security settings). It patches one private method of a pinned
aiokafka (`libs/runtime/pyproject.toml`); `tests/test_rebootstrap.py` fails if that method or
the bootstrap node ids change. Remove it once aiokafka rebootstraps by itself.
"""

from __future__ import annotations

import logging
import types
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.client import AIOKafkaClient, ConnectionGroup
from aiokafka.cluster import BrokerMetadata
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

log = logging.getLogger(__name__)


Owner = TypeVar("Owner", AIOKafkaProducer, AIOKafkaConsumer)


def rebootstrapping(owner: Owner) -> Owner:
    """Make a producer's or consumer's client fall back to its bootstrap addresses; returns it."""
    client: AIOKafkaClient = owner.client if isinstance(owner, AIOKafkaProducer) else owner._client  # noqa: SLF001
    known_only = client._metadata_update  # noqa: SLF001 - see the module's docstring
    # The bootstrap addresses as brokers the client can connect to by id (its cluster metadata
    # has the slot, but the client leaves it empty); known brokers still come first.
    bootstrap = {f"bootstrap-{i}": BrokerMetadata(f"bootstrap-{i}", host, port, None)
                 for i, (host, port, _) in enumerate(client.hosts)}
    client.cluster._bootstrap_brokers = bootstrap  # noqa: SLF001

    async def update(self: AIOKafkaClient, cluster_metadata, topics) -> bool:
        if await known_only(cluster_metadata, topics):
            return True
        request = MetadataRequest[1](list(topics) or None)
        for node_id in bootstrap:
            conn = await self._get_conn(node_id)  # noqa: SLF001
            if conn is None:
                continue
            try:
                metadata = await conn.send(request)
            except (TimeoutError, KafkaError):
                continue
            finally:
                # Used once: from here on the client talks to the brokers the answer names.
                self._conns.pop((node_id, ConnectionGroup.DEFAULT), conn).close()  # noqa: SLF001
            if metadata.brokers:
                log.warning("no known broker answered; metadata read again from bootstrap address %s", node_id)
                cluster_metadata.update_metadata(metadata)
                return True
        return False

    client._metadata_update = types.MethodType(update, client)  # noqa: SLF001
    return owner
