"""The local stack: Kafka in KRaft mode from Maven Central jars, PostgreSQL from Debian, a mail
server, the four services. Each part is its own module here (`kafka`, `postgres`, `mail`,
`auth`, `services`, `health`, all on `layout.Layout`); `Stack` composes them and brings the whole
up and down.

Every process it starts binds to 127.0.0.1 and is recorded by PID under the run folder, so
`down` stops exactly what `up` started and nothing else.
"""

from __future__ import annotations

import os

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


class Stack(KafkaBroker, PostgresServer, MailServer, Credentials, ServiceProcesses, Health, Layout):
    async def up(self, services: list[str] | None = None, say=print) -> None:
        self.start_postgres()
        self.start_kafka()
        await self.wait_postgres()
        say(f"postgres   ready at {self.admin_url}")
        for name in await self.create_databases():
            say(f"postgres   created database {name}")
        await self.wait_kafka()
        say(f"kafka      ready at {self.bootstrap}" + (f" ({self.brokers} brokers, every topic on {self.replication} "
                                                       f"replicas)" if self.brokers > 1 else ""))
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
            if not pid_file.stem.startswith("kafka") and pid_file.stem != "mail" and stop(pid_file):
                say(f"{pid_file.stem:<10} stopped")
        if self.stop_mail():
            say("smtp       stopped")
        if self.stop_kafka():
            say("kafka      stopped" if self.brokers == 1 else f"kafka      {self.brokers} brokers stopped")
        if self.stop_postgres():
            say("postgres   stopped")


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
