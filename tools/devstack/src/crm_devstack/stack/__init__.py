"""The local stack: Kafka in KRaft mode from Maven Central jars, PostgreSQL from Debian, a mail
server, the four services. `Stack` is the layout every part shares (the run folder, ports,
addresses) and one object per part: `kafka`, `postgres`, `mail`, `auth` (keys and tokens),
`services` (the processes) and `health`. It brings the whole up and down and restarts any part
by name; everything else is asked of the part (`stack.kafka.args()`, `stack.auth.as_user(u)`).

Every process it starts binds to 127.0.0.1 and is recorded by PID under the run folder, so
`down` stops exactly what `up` started and nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from crm_contracts import TOPICS

from .auth import Credentials
from .health import Health
from .kafka import KafkaBroker
from .layout import SERVICES, Layout, repo_root
from .mail import MailServer
from .postgres import PostgresServer
from .processes import stop
from .services import ServiceProcesses

__all__ = ["SERVICES", "Stack", "current", "repo_root"]


@dataclass
class Stack(Layout):
    kafka: KafkaBroker = field(init=False, repr=False)
    postgres: PostgresServer = field(init=False, repr=False)
    mail: MailServer = field(init=False, repr=False)
    auth: Credentials = field(init=False, repr=False)
    services: ServiceProcesses = field(init=False, repr=False)
    health: Health = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.assemble()

    def assemble(self) -> None:
        """One object per part, each given this layout (a container stack gives its own kinds)."""
        self.kafka = KafkaBroker(self)
        self.postgres = PostgresServer(self)
        self.mail = MailServer(self)
        self.auth = Credentials(self)
        self.services = ServiceProcesses(self, kafka=self.kafka, mail=self.mail, auth=self.auth)
        self.health = Health(self, kafka=self.kafka, services=self.services)

    async def up(self, services: list[str] | None = None, say=print) -> None:
        if not self.kafka_bootstrap:  # a broker of our own: its jars first, with what they cost to fetch
            self.kafka.fetch(say=say)
        self.postgres.start()
        self.kafka.start()
        await self.postgres.wait()
        say(f"postgres   ready at {self.admin_url}")
        for name in await self.postgres.create_databases():
            say(f"postgres   created database {name}")
        await self.kafka.wait()
        say(f"kafka      ready at {self.bootstrap}" + (f" ({self.brokers} brokers, every topic on {self.replication} "
                                                       f"replicas)" if self.brokers > 1 else ""))
        self.mail.start()
        await self.mail.wait()
        say(f"smtp       ready at 127.0.0.1:{self.smtp_port}, Maildir {self.mail.maildir}")
        created = await self.kafka.create_topics()
        say(f"kafka      {len(created)} topics created, {len(TOPICS) * 2 - len(created)} already there")
        if self.sasl:
            self.kafka.apply_acls()
            say("kafka      SASL/SCRAM principals: admin, " + ", ".join(SERVICES) + "; ACLs applied")
        for service in services or list(SERVICES):
            self.services.start(service)
        for service in services or list(SERVICES):
            health = await self.health.wait(service)
            say(f"{service:<10} healthy at {self.http(service)} (pid {health['pid']})")

    def down(self, say=print) -> None:
        for pid_file in sorted(self.pids.glob("*.pid")) if self.pids.exists() else []:
            if not pid_file.stem.startswith("kafka") and pid_file.stem != "mail" and stop(pid_file):
                say(f"{pid_file.stem:<10} stopped")
        if self.mail.stop():
            say("smtp       stopped")
        if self.kafka.stop():
            say("kafka      stopped" if self.brokers == 1 else f"kafka      {self.brokers} brokers stopped")
        if self.postgres.stop():
            say("postgres   stopped")

    def stop_component(self, component: str, *, replica: int = 1, kill: bool = False,
                       broker: int | None = None) -> bool:
        """One part of the stack: `kafka` (every broker, or one), `postgres` or a service (one replica of it)."""
        if component == "kafka":
            return self.kafka.stop(kill=kill, broker=broker)
        if component == "postgres":
            return self.postgres.stop(kill=kill)
        if component not in SERVICES:
            raise ValueError(f"no component {component!r}: kafka, postgres, {', '.join(SERVICES)}")
        return self.services.stop(component, replica, kill=kill)

    async def start_component(self, component: str, *, replica: int = 1, broker: int | None = None) -> None:
        """Start one part again and return once it answers (a service: once healthy; a broker: once
        registered with the cluster)."""
        if component == "kafka":
            self.kafka.start(broker)
            await self.kafka.wait(broker=broker)
        elif component == "postgres":
            self.postgres.start()
            await self.postgres.wait()
        elif component in SERVICES:
            self.services.start(component, replica=replica)
            await self.health.wait(component, replica=replica, timeout=120)
        else:
            raise ValueError(f"no component {component!r}: kafka, postgres, {', '.join(SERVICES)}")

    async def restart_services(self, env: dict[str, str] | None = None) -> None:
        """The four services stopped (whatever runs under their PID files) and started again with
        `env` added to their environment; returns once each is healthy."""
        for service in SERVICES:
            self.services.stop(service)
            self.services.start(service, env=env)
        for service in SERVICES:
            await self.health.wait(service)

    async def settled(self, timeout: float = 60) -> None:
        """Until the whole system has nothing left to do (`Health.settled`): what tests wait for
        before showing that nothing else will arrive."""
        await self.health.settled(timeout)

    @property
    def owns_parts(self) -> bool:
        """Whether this handle started the stack's parts and may stop them (not a stack run
        elsewhere, reached by KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL)."""
        return not self.pg_url

    @property
    def sees_client_address(self) -> bool:
        """Whether a service sees each client's own loopback address (127.0.0.x): yes on this
        stack; a container engine's port forwarding shows them all as one."""
        return True

    def log_text(self, component: str) -> str:
        """Everything a component has logged (a file under .run/logs here; the engine's log in
        containers)."""
        path = self.logs / f"{component}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def current() -> Stack:
    """The stack CRM_STACK names — `compose` (docker-compose.yml's containers) or `local` — or,
    unset, the compose stack while `make compose-up` has it running, else the local stack."""
    from .containers import ACTIVE_MARK, compose_stack

    chosen = os.environ.get("CRM_STACK") or ("compose" if (repo_root() / ACTIVE_MARK).exists() else "local")
    return compose_stack() if chosen == "compose" else Stack()
