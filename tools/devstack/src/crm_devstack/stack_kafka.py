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
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from crm_contracts import TOPICS
from crm_contracts.registry import Direction
from crm_runtime.topics import PARTITIONS, ensure_topics

from .layout import SERVICES, Layout
from .processes import alive, read_pid, spawn, stop


class KafkaBroker(Layout):
    @property
    def kafka_libs(self) -> Path:
        return self.run / "kafka-libs"

    def fetch_kafka(self) -> None:
        if self.kafka_libs.exists() and any(self.kafka_libs.glob("kafka-tools-[0-9]*.jar")):
            return
        pom = self.root / "infra" / "kafka" / "pom.xml"
        subprocess.run(["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                        f"-DoutputDirectory={self.kafka_libs}", "-DincludeScope=runtime"], check=True)

    # --- Kafka principals (SASL/SCRAM) ------------------------------------------------------

    @property
    def kafka_users(self) -> dict[str, str]:
        """user -> password: `admin` (the stack, tests, the operator CLI) and one per service."""
        path = self.run / "kafka" / "users.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({u: secrets.token_urlsafe(24) for u in ("admin", *SERVICES)}, f)
        return json.loads(path.read_text())

    def kafka_args(self, user: str = "admin") -> dict:
        """aiokafka client arguments, logged in as `user` when the broker takes SASL."""
        args: dict = {"bootstrap_servers": self.bootstrap}
        if self.sasl:
            args.update(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
                        sasl_plain_username=user, sasl_plain_password=self.kafka_users[user])
        return args

    def cli_env(self) -> dict[str, str]:
        """The environment for the operator CLI `crm` against this stack (as admin under SASL)."""
        env = dict(os.environ)
        if self.sasl:
            env.update(CRM_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", CRM_KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
                       CRM_KAFKA_SASL_USERNAME="admin", CRM_KAFKA_SASL_PASSWORD=self.kafka_users["admin"])
        return env

    def kafka_env(self, service: str) -> dict[str, str]:
        if not self.sasl:
            return {}
        return {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
                "KAFKA_SASL_USERNAME": service, "KAFKA_SASL_PASSWORD": self.kafka_users[service]}

    def _listeners(self) -> list[str]:
        if not self.sasl:
            return [f"listeners=PLAINTEXT://127.0.0.1:{self.kafka_port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.kafka_port}",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT"]
        admin = self.kafka_users["admin"]
        return [f"listeners=SASL_PLAINTEXT://127.0.0.1:{self.kafka_port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{self.kafka_port}",
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
        if not self.sasl:
            return []
        return [a for user, pw in self.kafka_users.items()
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
        done = self.run / "kafka" / "acls.applied"
        if not self.sasl or done.exists():
            return
        config = self.run / "kafka" / "admin.properties"
        config.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
                          "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                          f'username="admin" password="{self.kafka_users["admin"]}";\n')
        base = ["java", "-cp", f"{self.kafka_libs}/*", "org.apache.kafka.tools.AclCommand",
                "--bootstrap-server", self.bootstrap, "--command-config", str(config), "--add", "--force"]
        for service, rules in self.acls().items():
            me = ["--allow-principal", f"User:{service}"]
            for ops, resources in ((["Read", "Describe"], ["--topic", rules["read"]]),
                                   (["Write", "Describe"], ["--topic", rules["write"]]),
                                   (["Read"], ["--group", rules["group"], "--resource-pattern-type", "prefixed"])):
                flag, names, *rest = resources
                cmd = [*base, *me, *[a for op in ops for a in ("--operation", op)],
                       *[a for n in names for a in (flag, n)], *rest]
                subprocess.run(cmd, check=True, capture_output=True, text=True)
        done.touch()

    def _kafka_properties(self) -> Path:
        data = self.run / "kafka" / "data"
        props = self.run / "kafka" / "server.properties"
        props.parent.mkdir(parents=True, exist_ok=True)
        props.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            *self._listeners(),
            "controller.listener.names=CONTROLLER",
            f"log.dirs={data}",
            f"num.partitions={PARTITIONS}",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # Topics come from the contract only; a typo must fail, not create a topic.
            "auto.create.topics.enable=false",
            "",
        ]))
        return props

    def start_kafka(self) -> None:
        pid_file = self.pids / "kafka.pid"
        if self.kafka_bootstrap or alive(read_pid(pid_file)):
            return
        self.fetch_kafka()
        props = self._kafka_properties()
        cp = f"{self.kafka_libs}/*"
        if not (self.run / "kafka" / "data" / "meta.properties").exists():
            cluster = subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
                                     check=True, capture_output=True, text=True).stdout.strip()
            subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster,
                            "-c", str(props), *self._scram_users()], check=True, capture_output=True)
        log4j = self.root / "infra" / "kafka" / "log4j2.properties"
        spawn(["java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", f"-Dlog4j2.configurationFile={log4j}",
               "-cp", cp, "kafka.Kafka", str(props)],
              log_file=self.logs / "kafka.log", pid_file=pid_file)

    async def wait_kafka(self, timeout: float = 90) -> None:
        # aiokafka logs each refused connection at ERROR while the broker is still starting.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            admin = AIOKafkaAdminClient(**self.kafka_args(), request_timeout_ms=5000)
            try:
                await admin.start()
                await admin.describe_cluster()
                return
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.5)
            finally:
                await admin.close()
        raise RuntimeError(f"Kafka at {self.bootstrap} did not answer in {timeout}s: {last!r}")

    async def create_topics(self) -> list[str]:
        return await ensure_topics(self.kafka_args(), PARTITIONS)

    def stop_kafka(self, *, kill: bool = False) -> bool:
        if self.kafka_bootstrap:
            return False
        return stop(self.pids / "kafka.pid", timeout=30, sig=signal.SIGKILL if kill else signal.SIGTERM)
