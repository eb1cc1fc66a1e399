"""The local stack: Kafka in KRaft mode from Maven Central jars, PostgreSQL from Debian, services.

Every process it starts binds to 127.0.0.1 and is recorded by PID under the run folder, so
`down` stops exactly what `up` started and nothing else.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient

from crm_cli import tokens
from crm_contracts import TOPICS
from crm_contracts.registry import Direction
from crm_runtime import sealed
from crm_runtime.topics import PARTITIONS, ensure_topics

from .mailserver import certificate
from .processes import alive, read_pid, spawn, stop

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
class Stack:
    root: Path = field(default_factory=repo_root)
    run: Path | None = None
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

    def __post_init__(self) -> None:
        self.run = self.run or self.root / (".run-sasl" if self.sasl else ".run")
        self.logs = self.run / "logs"
        self.pids = self.run / "pids"

    # --- addresses ------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

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

    def _name(self, service: str, replica: int) -> str:
        return service if replica == 1 else f"{service}-{replica}"

    # --- Kafka ----------------------------------------------------------------------------

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

    # --- PostgreSQL -----------------------------------------------------------------------

    @property
    def pg_data(self) -> Path:
        return self.run / "pg"

    def _as_postgres(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def _pg_bin(self, name: str) -> str:
        for version_dir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (version_dir / name).exists():
                return str(version_dir / name)
        found = shutil.which(name)
        if not found:
            raise RuntimeError(f"{name} not found: install PostgreSQL (make up does)")
        return found

    def start_postgres(self) -> None:
        if self.pg_url:
            return
        pid_file = self.pg_data / "postmaster.pid"
        if pid_file.exists() and alive(read_pid_first_line(pid_file)):
            return
        self.logs.mkdir(parents=True, exist_ok=True)
        if not (self.pg_data / "PG_VERSION").exists():
            self.pg_data.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.pg_data, "postgres", "postgres")
            # Trust on loopback only: a development database that nobody else can reach.
            subprocess.run(self._as_postgres([self._pg_bin("initdb"), "-D", str(self.pg_data), "-U", "crm",
                                              "-A", "trust", "-E", "UTF8", "--no-instructions"]),
                           check=True, capture_output=True)
        log_file = self.logs / "postgres.log"
        if not log_file.exists():
            log_file.touch()
        if os.geteuid() == 0:
            shutil.chown(log_file, "postgres", "postgres")
        opts = (f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {self.pg_data} "
                "-c max_connections=300 -c fsync=on")
        subprocess.run(self._as_postgres([self._pg_bin("pg_ctl"), "-D", str(self.pg_data), "-o", opts,
                                          "-l", str(log_file), "-w", "start"]), check=True,
                       capture_output=True)

    async def wait_postgres(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.admin_url, timeout=3)
                await conn.close()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL at {self.admin_url} did not answer: {exc!r}") from exc
                await asyncio.sleep(0.3)

    async def create_databases(self) -> list[str]:
        """A database per service, owned by a role of the service's own (no superuser, no other
        database): `crm_<service>` for both. The other services' roles cannot connect to it."""
        conn = await asyncpg.connect(self.admin_url)
        created = []
        try:
            have = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            roles = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
            for service in SERVICES:
                name = f"crm_{service}"
                if not self.pg_url and name not in roles:
                    await conn.execute(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
                if name not in have:
                    owner = "" if self.pg_url else f' OWNER "{name}"'
                    await conn.execute(f'CREATE DATABASE "{name}"{owner}')
                    created.append(name)
                if not self.pg_url:
                    await conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
                    await self._hand_over(name)
        finally:
            await conn.close()
        return created

    async def _hand_over(self, name: str) -> None:
        """A database made before roles existed: the role takes it and everything in it over."""
        conn = await asyncpg.connect(f"{self.admin_url.rsplit('/', 1)[0]}/{name}")
        try:
            if await conn.fetchval("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", name) == name:
                return
            await conn.execute(f'ALTER DATABASE "{name}" OWNER TO "{name}"')
            for kind, objects in (("TABLE", "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"),
                                  ("SEQUENCE", "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")):
                for r in await conn.fetch(objects):
                    await conn.execute(f'ALTER {kind} public."{r[0]}" OWNER TO "{name}"')
        finally:
            await conn.close()

    def stop_postgres(self, *, kill: bool = False) -> bool:
        """Stop PostgreSQL; `kill` stops it the way a crash would (immediate: no checkpoint, every
        connection cut), so what follows is crash recovery."""
        if self.pg_url or not (self.pg_data / "postmaster.pid").exists():
            return False
        subprocess.run(self._as_postgres([self._pg_bin("pg_ctl"), "-D", str(self.pg_data), "-m",
                                          "immediate" if kill else "fast", "-w", "stop"]),
                       check=False, capture_output=True)
        return True

    # --- mail ---------------------------------------------------------------------------------

    @property
    def maildir(self) -> Path:
        return self.run / "mail"

    @property
    def push_log(self) -> Path:
        return self.run / "push" / "pushes.jsonl"

    def start_mail(self) -> None:
        if alive(read_pid(self.pids / "mail.pid")):
            return
        cert, key = certificate(self.run / "mail-tls")
        spawn([sys.executable, "-m", "crm_devstack.mailserver", "--port", str(self.smtp_port),
               "--maildir", str(self.maildir), "--tls-cert", str(cert), "--tls-key", str(key)],
              log_file=self.logs / "mail.log", pid_file=self.pids / "mail.pid")

    def stop_mail(self) -> bool:
        return stop(self.pids / "mail.pid")

    async def wait_mail(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.smtp_port)
                writer.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the SMTP server did not start; see {self.logs / 'mail.log'}") from None
                await asyncio.sleep(0.2)

    # --- who may call the services ---------------------------------------------------------

    @property
    def auth_dir(self) -> Path:
        return self.run / "auth"

    def keys_env(self, service: str) -> dict[str, str]:
        """The development identity provider (its public keys, issuer and audience) for every
        service; the invitation sealing key's public half for identity, its private half for
        notifications."""
        env = {"AUTH_JWKS_FILE": str(tokens.ensure_dev_keys(self.auth_dir)), "AUTH_ISSUER": tokens.DEV_ISSUER,
               "AUTH_AUDIENCE": tokens.DEV_AUDIENCE}
        private, public = sealed.ensure_keys(self.auth_dir)
        if service == "identity":
            env["INVITATION_SEAL_PUBLIC_KEY_FILE"] = str(public)
        if service == "notifications":
            env["INVITATION_SEAL_PRIVATE_KEY_FILE"] = str(private)
        return env

    def invitation_link(self, issued) -> str:
        """The link of an `identity.invitation.issued`, as its e-mail carries it: opened with
        notifications' development key, standing in for reading the e-mail."""
        private, _ = sealed.ensure_keys(self.auth_dir)
        token = sealed.Opener.from_file(str(private)).open(issued.data["sealed_token"])
        return f"{issued.data['accept_page_url']}?token={token}"

    def token(self, user_id: str, **options) -> str:
        tokens.ensure_dev_keys(self.auth_dir)
        return tokens.mint(self.auth_dir / tokens.PRIVATE_FILE, user_id, **options)

    def as_user(self, user_id: str, **options) -> dict[str, str]:
        """HTTP headers acting as `user_id` (`operator=True`: the operator scope, read-only)."""
        return {"Authorization": f"Bearer {self.token(user_id, **options)}"}

    def as_operator(self) -> dict[str, str]:
        return self.as_user("operator", operator=True)

    # --- services -------------------------------------------------------------------------

    def service_env(self, service: str, replica: int = 1) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": self.database_url(service),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port(service, replica)),
            "PUBLIC_BASE_URL": self.http(service),
            "GROUP_SUFFIX": self.group_suffix,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            # The local server requires STARTTLS with its own certificate, which is trusted here.
            "SMTP_TLS": "starttls",
            "SMTP_CA_FILE": str(self.run / "mail-tls" / "smtp-cert.pem"),
            "PUSH_LOG_PATH": str(self.push_log),
            "PYTHONUNBUFFERED": "1",
            **self.keys_env(service),
            **self.kafka_env(service),
            **self.extra_env,
        }

    def service_pid(self, service: str, replica: int = 1) -> int | None:
        pid = read_pid(self.pids / f"{self._name(service, replica)}.pid")
        return pid if alive(pid) else None

    def start_service(self, service: str, env: dict[str, str] | None = None, replica: int = 1) -> int:
        running = self.service_pid(service, replica)
        if running:
            return running
        name = self._name(service, replica)
        return spawn([sys.executable, "-m", f"crm_{service}"], log_file=self.logs / f"{name}.log",
                     pid_file=self.pids / f"{name}.pid",
                     env={**self.service_env(service, replica), **(env or {})})

    def stop_service(self, service: str, replica: int = 1, *, kill: bool = False) -> bool:
        """SIGTERM (the service drains and commits what it holds), or SIGKILL with `kill`."""
        return stop(self.pids / f"{self._name(service, replica)}.pid", sig=signal.SIGKILL if kill else signal.SIGTERM)

    def stop_kafka(self, *, kill: bool = False) -> bool:
        if self.kafka_bootstrap:
            return False
        return stop(self.pids / "kafka.pid", timeout=30, sig=signal.SIGKILL if kill else signal.SIGTERM)

    def stop_component(self, component: str, *, replica: int = 1, kill: bool = False) -> bool:
        """One part of the stack: `kafka`, `postgres` or a service (one replica of it)."""
        if component == "kafka":
            return self.stop_kafka(kill=kill)
        if component == "postgres":
            return self.stop_postgres(kill=kill)
        if component not in SERVICES:
            raise ValueError(f"no component {component!r}: kafka, postgres, {', '.join(SERVICES)}")
        return self.stop_service(component, replica, kill=kill)

    async def start_component(self, component: str, *, replica: int = 1) -> None:
        """Start one part again and return once it answers (a service: once healthy)."""
        if component == "kafka":
            self.start_kafka()
            await self.wait_kafka()
        elif component == "postgres":
            self.start_postgres()
            await self.wait_postgres()
        elif component in SERVICES:
            self.start_service(component, replica=replica)
            await self.wait_healthy(component, replica=replica, timeout=120)
        else:
            raise ValueError(f"no component {component!r}: kafka, postgres, {', '.join(SERVICES)}")

    async def health(self, service: str, replica: int = 1) -> dict | None:
        """The service's /health when it is healthy, else None (see `health_report` for why)."""
        report = await self.health_report(service, replica)
        return report if report and report.get("status") == "ok" else None

    async def health_report(self, service: str, replica: int = 1) -> dict | None:
        """The service's /health answer whatever its status; None when it does not answer."""
        try:
            async with httpx.AsyncClient(timeout=3) as client:
                return (await client.get(self.http(service, replica) + "/health")).json()
        except (httpx.HTTPError, ValueError):
            return None

    async def wait_healthy(self, service: str, timeout: float = 60, replica: int = 1) -> dict:
        deadline = time.monotonic() + timeout
        log = self.logs / f"{self._name(service, replica)}.log"
        while time.monotonic() < deadline:
            if not self.service_pid(service, replica):
                raise RuntimeError(f"{service} exited; see {log}")
            health = await self.health(service, replica)
            if health and health.get("pid") == self.service_pid(service, replica):
                return health
            await asyncio.sleep(0.3)
        raise RuntimeError(f"{service} not healthy after {timeout}s; see {log}")

    async def settled(self, timeout: float = 60) -> None:
        """Until the system has nothing left to do: every service's consumer group has committed
        up to the end of each partition it reads and every outbox is empty, twice in a row with
        no new record. What tests use to show that nothing else will arrive, instead of a sleep."""
        from aiokafka import AIOKafkaConsumer

        admin = AIOKafkaAdminClient(**self.kafka_args())
        ends_reader = AIOKafkaConsumer(**self.kafka_args(), enable_auto_commit=False)
        await admin.start()
        await ends_reader.start()
        deadline = time.monotonic() + timeout
        try:
            calm, last_ends = 0, None
            while calm < 2:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the system did not settle in {timeout}s")
                ends, behind, _ = await self._consumption(admin, ends_reader)
                healths = [await self.health(service) for service in SERVICES]
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
            group = f"crm-{service}{self.group_suffix}"
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

        admin = AIOKafkaAdminClient(**self.kafka_args())
        ends_reader = AIOKafkaConsumer(**self.kafka_args(), enable_auto_commit=False)
        await admin.start()
        await ends_reader.start()
        try:
            return (await self._consumption(admin, ends_reader))[2]
        finally:
            await ends_reader.stop()
            await admin.close()

    # --- the whole ------------------------------------------------------------------------

    async def up(self, services: list[str] | None = None, say=print) -> None:
        self.start_postgres()
        self.start_kafka()
        await self.wait_postgres()
        say(f"postgres   ready at {self.admin_url}")
        for name in await self.create_databases():
            say(f"postgres   created database {name}")
        await self.wait_kafka()
        say(f"kafka      ready at {self.bootstrap}")
        self.start_mail()
        await self.wait_mail()
        say(f"smtp       ready at 127.0.0.1:{self.smtp_port}, Maildir {self.maildir}")
        created = await self.create_topics()
        say(f"kafka      {len(created)} topics created, {len(TOPICS) * 2 - len(created)} already there")
        if self.sasl:
            self.apply_acls()
            say("kafka      SASL/SCRAM principals: admin, " + ", ".join(SERVICES) + "; ACLs applied")
        for service in services or list(SERVICES):
            self.start_service(service)
        for service in services or list(SERVICES):
            health = await self.wait_healthy(service)
            say(f"{service:<10} healthy at {self.http(service)} (pid {health['pid']})")

    def down(self, say=print) -> None:
        for pid_file in sorted(self.pids.glob("*.pid")) if self.pids.exists() else []:
            if pid_file.stem not in ("kafka", "mail") and stop(pid_file):
                say(f"{pid_file.stem:<10} stopped")
        if self.stop_mail():
            say("smtp       stopped")
        if not self.kafka_bootstrap and stop(self.pids / "kafka.pid", timeout=30):
            say("kafka      stopped")
        if self.stop_postgres():
            say("postgres   stopped")


def read_pid_first_line(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None

