"""Where the local stack's parts live: the run folder, ports and addresses every component uses."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SERVICES: dict[str, int] = {"identity": 8001, "seats": 8002, "notifications": 8003, "routing": 8004}


def repo_root() -> Path:
    env = os.environ.get("CRM_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *Path.cwd().parents, *here.parents]:
        if (parent / "infra" / "kafka" / "pom.xml").exists():
            return parent
    raise RuntimeError("cannot find the repository root (set CRM_ROOT)")


@dataclass
class Layout:
    root: Path = field(default_factory=repo_root)
    # Given, or chosen in __post_init__ from root, sasl and brokers: a Path once constructed.
    run: Path = None  # type: ignore[assignment]
    kafka_port: int = 9092
    controller_port: int = 9093
    pg_port: int = 5433
    smtp_port: int = 2525
    kafka_bootstrap: str | None = None  # set: use this broker instead of starting one
    pg_url: str | None = None  # set: use this server instead of starting one
    group_suffix: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    # SASL/SCRAM with one principal per service and ACLs on the broker (`CRM_KAFKA_SASL=1`). Its
    # broker is formatted with the users, so it keeps its own run folder.
    sasl: bool = field(default_factory=lambda: os.environ.get("CRM_KAFKA_SASL") == "1")
    # Kafka nodes, each controller and broker (`CRM_KAFKA_BROKERS=3`: a replicated cluster on
    # 9092-9094). A cluster's nodes are formatted together, so it keeps its own run folder too.
    brokers: int = field(default_factory=lambda: int(os.environ.get("CRM_KAFKA_BROKERS") or 1))

    def __post_init__(self) -> None:
        if self.brokers not in (1, 3):
            raise ValueError(f"KAFKA_BROKERS={self.brokers}: the local stack runs 1 broker or a cluster of 3")
        if self.sasl and self.brokers > 1:
            raise ValueError("KAFKA_SASL with KAFKA_BROKERS=3 is not built: the SASL stack is one broker")
        self.run = self.run or self.root / (".run-sasl" if self.sasl else ".run-cluster" if self.brokers > 1 else ".run")
        self.logs = self.run / "logs"
        self.pids = self.run / "pids"

    # --- addresses ------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or ",".join(f"127.0.0.1:{self.broker_port(n)}" for n in self.nodes)

    @property
    def nodes(self) -> list[int]:
        """Kafka node ids, 1-based (`crm-stack stop kafka --broker N`)."""
        return list(range(1, self.brokers + 1))

    def broker_port(self, node: int) -> int:
        return self.kafka_port + node - 1

    def node_controller_port(self, node: int) -> int:
        # One broker keeps its controller beside it (9093); a cluster's brokers take 9092-9094, so
        # their controllers listen 100 above.
        return self.controller_port if self.brokers == 1 else self.kafka_port + 100 + node - 1

    def kafka_name(self, node: int) -> str:
        """The node's run folder, PID file and log name: `kafka`, or `kafka-N` in a cluster."""
        return "kafka" if self.brokers == 1 else f"kafka-{node}"

    @property
    def replication(self) -> int:
        """Replicas of every topic: all the cluster's brokers, up to three."""
        return min(self.brokers, 3)

    @property
    def admin_url(self) -> str:
        return self.pg_url or f"postgresql://crm@127.0.0.1:{self.pg_port}/postgres"

    def database_url(self, service: str) -> str:
        """The service's own database, reached as the service's own role on the local stack (an
        external server's credentials are used as given)."""
        base = self.admin_url.rsplit("/", 1)[0]
        if self.pg_url or service not in SERVICES:
            return f"{base}/crm_{service}"
        return f"postgresql://crm_{service}@127.0.0.1:{self.pg_port}/crm_{service}"

    def port(self, service: str, replica: int = 1) -> int:
        """Replicas of a service (same consumer group) listen 100 ports above the first."""
        return SERVICES[service] + 100 * (replica - 1)

    def http(self, service: str, replica: int = 1) -> str:
        return f"http://127.0.0.1:{self.port(service, replica)}"

    def process_name(self, service: str, replica: int = 1) -> str:
        """The PID file and log name of a service's replica."""
        return service if replica == 1 else f"{service}-{replica}"
