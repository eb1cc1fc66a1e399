"""The Kafka broker (KRaft, from Maven Central jars): its configuration, SCRAM principals and ACLs
when `sasl` is on, start, wait, topics, stop."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from crm_contracts import TOPICS
from crm_contracts.registry import Direction
from crm_runtime.topics import PARTITIONS, ensure_topics, min_insync

from .layout import SERVICES, Layout
from .processes import alive, read_pid, spawn, stop_together


@dataclass
class KafkaBroker:
    """The broker or the three-node cluster of the stack's layout."""

    layout: Layout
    _jars_checked: bool = field(default=False, init=False, repr=False)

    @property
    def libs(self) -> Path:
        return self.layout.run / "kafka-libs"

    def fetch(self, say: Callable[[str], object] = print) -> None:
        """The jars, fetched from Maven Central on the first run and checked against their
        recorded SHA-256 once per run of the stack's tools (`kafka_jars`)."""
        from . import kafka_jars  # here: `python -m crm_devstack.stack.kafka_jars` runs it as a script too

        if not self._jars_checked:
            kafka_jars.fetch(self.libs, self.layout.root, log=self.layout.logs / "maven.log", say=say)
            self._jars_checked = True

    # --- Kafka principals (SASL/SCRAM) ------------------------------------------------------

    @property
    def users(self) -> dict[str, str]:
        """user -> password: `admin` (the stack, tests, the operator CLI) and one per service."""
        path = self.layout.run / "kafka" / "users.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({u: secrets.token_urlsafe(24) for u in ("admin", *SERVICES)}, f)
        return json.loads(path.read_text())

    def args(self, user: str = "admin") -> dict:
        """aiokafka client arguments, logged in as `user` when the broker takes SASL."""
        args: dict = {"bootstrap_servers": self.layout.bootstrap}
        if self.layout.sasl:
            args.update(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
                        sasl_plain_username=user, sasl_plain_password=self.users[user])
        return args

    def cli_env(self) -> dict[str, str]:
        """The environment for the operator CLI `crm` against this stack (as admin under SASL)."""
        env = {**os.environ, "CRM_KAFKA_BOOTSTRAP_SERVERS": self.layout.bootstrap}
        if self.layout.sasl:
            env.update(CRM_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", CRM_KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
                       CRM_KAFKA_SASL_USERNAME="admin", CRM_KAFKA_SASL_PASSWORD=self.users["admin"])
        return env

    def client_env(self, service: str) -> dict[str, str]:
        if not self.layout.sasl:
            return {}
        return {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
                "KAFKA_SASL_USERNAME": service, "KAFKA_SASL_PASSWORD": self.users[service]}

    def _listeners(self, node: int) -> list[str]:
        port, controller = self.layout.broker_port(node), self.layout.node_controller_port(node)
        if not self.layout.sasl:
            return [f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT"]
        admin = self.users["admin"]
        return [f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}",
                "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=SASL_PLAINTEXT",
                "sasl.enabled.mechanisms=SCRAM-SHA-256",
                "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256",
                "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config="
                f'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="{admin}";',
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                # The controller listener (loopback only) carries no login: its principal is ANONYMOUS.
                "super.users=User:admin;User:ANONYMOUS",
                "allow.everyone.if.no.acl.found=false"]

    def _scram_users(self) -> list[str]:
        if not self.layout.sasl:
            return []
        return [a for user, pw in self.users.items()
                for a in ("--add-scram", f"SCRAM-SHA-256=[name={user},password={pw}]")]

    def acls(self) -> dict[str, dict[str, list[str]]]:
        """What each service's principal may do: read its input topics and its group, write its own
        events topic and the dead-letter twins of what it reads (rejections are events)."""
        out = {}
        for service in SERVICES:
            # The topics its app subscribes to, so the grants follow the code.
            inputs = [t.name for t in importlib.import_module(f"crm_{service}.app").service().consumes]
            writes = [t.name for t in TOPICS.values() if t.owner == service and t.direction is Direction.EVENTS]
            out[service] = {"read": list(inputs), "write": writes + [f"{t}.dlq" for t in inputs],
                            "group": [f"crm-{service}"]}
        return out

    def apply_acls(self) -> None:
        """Kafka's own AclCommand, as an operator would run it; once per run folder."""
        done = self.layout.run / "kafka" / "acls.applied"
        if not self.layout.sasl or done.exists():
            return
        config = self.layout.run / "kafka" / "admin.properties"
        config.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
                          "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                          f'username="admin" password="{self.users["admin"]}";\n')
        base = ["java", "-cp", f"{self.libs}/*", "org.apache.kafka.tools.AclCommand",
                "--bootstrap-server", self.layout.bootstrap, "--command-config", str(config), "--add", "--force"]
        for service, rules in self.acls().items():
            me = ["--allow-principal", f"User:{service}"]
            grants: list[tuple[list[str], str, list[str], list[str]]] = [
                (["Read", "Describe"], "--topic", rules["read"], []),
                (["Write", "Describe"], "--topic", rules["write"], []),
                (["Read"], "--group", rules["group"], ["--resource-pattern-type", "prefixed"])]
            for ops, flag, names, rest in grants:
                cmd = [*base, *me, *[a for op in ops for a in ("--operation", op)],
                       *[a for n in names for a in (flag, n)], *rest]
                subprocess.run(cmd, check=True, capture_output=True, text=True)
        done.touch()

    def folder(self, node: int) -> Path:
        return self.layout.run / self.layout.kafka_name(node)

    def write_properties(self, node: int) -> Path:
        folder = self.folder(node)
        props = folder / "server.properties"
        props.parent.mkdir(parents=True, exist_ok=True)
        rf, isr = self.layout.replication, min_insync(self.layout.replication)
        voters = ",".join(f"{n}@127.0.0.1:{self.layout.node_controller_port(n)}" for n in self.layout.nodes)
        props.write_text("\n".join([
            "process.roles=broker,controller",
            f"node.id={node}",
            f"controller.quorum.voters={voters}",
            *self._listeners(node),
            "controller.listener.names=CONTROLLER",
            f"log.dirs={folder / 'data'}",
            f"num.partitions={PARTITIONS}",
            # Every topic (the contract's are created with these explicitly), the consumer groups'
            # offsets and the transaction log alike: a record is acknowledged once all but one of
            # the replicas hold it.
            f"default.replication.factor={rf}",
            f"min.insync.replicas={isr}",
            f"offsets.topic.replication.factor={rf}",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={isr}",
            f"share.coordinator.state.topic.replication.factor={rf}",
            f"share.coordinator.state.topic.min.isr={isr}",
            # A replica that was not in sync never becomes leader: that would drop acknowledged records.
            "unclean.leader.election.enable=false",
            "group.initial.rebalance.delay.ms=0",
            # Topics come from the contract only; a typo must fail, not create a topic.
            "auto.create.topics.enable=false",
            # A group's committed offsets outlive any planned downtime (the default is 7 days);
            # past it the services pause rather than replay (docs/operations.md, "Offsets").
            "offsets.retention.minutes=525600",
            "",
        ]))
        return props

    def _pid_file(self, node: int) -> Path:
        return self.layout.pids / f"{self.layout.kafka_name(node)}.pid"

    def pid(self, node: int = 1) -> int | None:
        pid = read_pid(self._pid_file(node))
        return pid if alive(pid) else None

    def _check_node(self, broker: int | None) -> list[int]:
        if broker is None:
            return self.layout.nodes
        if broker not in self.layout.nodes:
            raise ValueError(f"no broker {broker}: this stack's are {', '.join(map(str, self.layout.nodes))}")
        return [broker]

    def start(self, broker: int | None = None) -> None:
        """Start every node (or one) not running; a cluster's nodes are formatted with one id."""
        if self.layout.kafka_bootstrap:
            return
        self.fetch()
        cp = f"{self.libs}/*"
        cluster: str | None = None
        for node in self._check_node(broker):
            if self.pid(node):
                continue
            props = self.write_properties(node)
            if not (self.folder(node) / "data" / "meta.properties").exists():
                cluster = cluster or self._cluster_id(cp)
                subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster,
                                "-c", str(props), *self._scram_users()], check=True, capture_output=True)
            log4j = self.layout.root / "infra" / "kafka" / "log4j2.properties"
            spawn(["java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", f"-Dlog4j2.configurationFile={log4j}",
                   "-cp", cp, "kafka.Kafka", str(props)],
                  log_file=self.layout.logs / f"{self.layout.kafka_name(node)}.log", pid_file=self._pid_file(node))

    def _cluster_id(self, cp: str) -> str:
        """The id the cluster's nodes were formatted with (a node formatted anew joins it), or a new one."""
        for node in self.layout.nodes:
            meta = self.folder(node) / "data" / "meta.properties"
            if meta.exists():
                for line in meta.read_text().splitlines():
                    if line.startswith("cluster.id="):
                        return line.split("=", 1)[1]
        return subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
                              check=True, capture_output=True, text=True).stdout.strip()

    async def wait(self, timeout: float = 90, broker: int | None = None) -> None:
        """Until the cluster answers with every broker (or `broker`) registered."""
        # aiokafka logs each refused connection at ERROR while the broker is still starting.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        wanted = set(self._check_node(broker)) if not self.layout.kafka_bootstrap else set()
        deadline = time.monotonic() + timeout
        last: Exception | str | None = None
        while time.monotonic() < deadline:
            admin = AIOKafkaAdminClient(**self.args(), request_timeout_ms=5000)
            try:
                await admin.start()
                cluster = await admin.describe_cluster()
                missing = wanted - {b["node_id"] for b in cluster["brokers"]}
                if not missing:
                    return
                last = f"brokers {sorted(missing)} not registered yet"
            except Exception as exc:
                last = exc
            finally:
                await admin.close()
            await asyncio.sleep(0.5)
        raise RuntimeError(f"Kafka at {self.layout.bootstrap} did not answer in {timeout}s: {last!r}")

    async def contract_partitions(self) -> dict[tuple[str, int], dict]:
        """Every partition of the contract's topics and their `.dlq`s as the cluster describes it
        (`leader`, -1 for none; `replicas`; `isr`)."""
        admin = AIOKafkaAdminClient(**self.args(), request_timeout_ms=5000)
        await admin.start()
        try:
            topics = await admin.describe_topics([n for t in TOPICS.values() for n in (t.name, t.dlq)])
            return {(t["topic"], p["partition"]): p for t in topics for p in t["partitions"]}
        finally:
            await admin.close()

    async def under_replicated(self) -> int:
        """Partitions of the contract's topics with a replica out of sync (0: every broker caught up)."""
        return sum(len(p["isr"]) < len(p["replicas"]) for p in (await self.contract_partitions()).values())

    async def wait_in_sync(self, timeout: float = 120) -> float:
        """Until no partition is under-replicated; returns the seconds it took."""
        started = time.monotonic()
        while (behind := await self.under_replicated()):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{behind} partitions still under-replicated after {timeout}s")
            await asyncio.sleep(0.5)
        return time.monotonic() - started

    async def create_topics(self) -> list[str]:
        return await ensure_topics(self.args(), PARTITIONS, self.layout.replication)

    def stop(self, *, kill: bool = False, broker: int | None = None) -> bool:
        """Stop every node (or one); SIGTERM is a controlled shutdown that hands its partitions'
        leadership over first, SIGKILL (`kill`) a crash. True when one was running."""
        if self.layout.kafka_bootstrap:
            return False
        return stop_together([self._pid_file(node) for node in self._check_node(broker)], timeout=30,
                             sig=signal.SIGKILL if kill else signal.SIGTERM)
