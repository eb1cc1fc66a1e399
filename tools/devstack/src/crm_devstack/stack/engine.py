"""The container engine's commands for one stack's containers, and each part of the stack as the
engine runs it: started, stopped and found by container instead of by PID file."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, field

from .health import Health
from .kafka import KafkaBroker
from .mail import MailServer
from .postgres import PostgresServer
from .services import ServiceProcesses

COMPOSE_PROJECT = "crm-platform"


@dataclass
class Engine:
    """The container engine's commands, for the containers of one stack."""

    command: str
    # component -> container name or id; compose's containers are found by their labels instead.
    containers: dict[str, str]
    compose: bool

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run([self.command, *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"{self.command} {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def container(self, component: str) -> str | None:
        if not self.compose:
            return self.containers.get(component)
        found = self.run("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={COMPOSE_PROJECT}",
                         "--filter", f"label=com.docker.compose.service={component}").split()
        return found[0] if found else None

    def pid(self, component: str) -> int | None:
        """The host PID of the component's running container, or None."""
        name = self.container(component)
        if not name:
            return None
        state = self.run("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", name, check=False).split()
        return int(state[1]) if len(state) == 2 and state[0] == "true" else None

    def stop(self, component: str, kill: bool = False) -> bool:
        name = self.container(component)
        if not name or not self.pid(component):
            return False
        self.run("kill", name) if kill else self.run("stop", "-t", "30", name)
        return True

    def start(self, component: str) -> None:
        """Start the component's container unless it runs."""
        if self.pid(component):
            return
        name = self.container(component)
        if not name:
            raise RuntimeError(f"no container for {component}")
        self.run("start", name)

    def logs(self, component: str) -> str:
        name = self.container(component)
        if not name:
            return ""
        done = subprocess.run([self.command, "logs", name], capture_output=True, text=True, errors="replace")
        return done.stdout + done.stderr


@dataclass
class ContainerKafka(KafkaBroker):
    engine: Engine = field(kw_only=True)

    def start(self, broker: int | None = None) -> None:
        self.engine.start("kafka")

    def stop(self, *, kill: bool = False, broker: int | None = None) -> bool:
        return self.engine.stop("kafka", kill)

    def pid(self, node: int = 1) -> int | None:
        return self.engine.pid("kafka")


@dataclass
class ContainerPostgres(PostgresServer):
    engine: Engine = field(kw_only=True)

    def start(self) -> None:
        self.engine.start("postgres")

    def stop(self, *, kill: bool = False) -> bool:
        return self.engine.stop("postgres", kill)


@dataclass
class ContainerMail(MailServer):
    engine: Engine = field(kw_only=True)

    def start(self) -> None:
        self.engine.start("mail")

    def stop(self) -> bool:
        return self.engine.stop("mail")


@dataclass
class ContainerServices(ServiceProcesses):
    engine: Engine = field(kw_only=True)

    def pid(self, service: str, replica: int = 1) -> int | None:
        return self.engine.pid(service) if replica == 1 else None

    def start(self, service: str, env: dict[str, str] | None = None, replica: int = 1) -> int:
        if env or replica != 1:
            raise NotImplementedError("a replica or a service with its own settings is the local stack's (make up)")
        self.engine.start(service)
        return self.engine.pid(service) or 0

    def stop(self, service: str, replica: int = 1, *, kill: bool = False) -> bool:
        return replica == 1 and self.engine.stop(service, kill)


@dataclass
class ContainerHealth(Health):
    engine: Engine = field(kw_only=True)

    async def wait(self, service: str, timeout: float = 60, replica: int = 1) -> dict:
        # The container's /health reports the PID inside its namespace, not the host's: a running
        # container and a healthy answer are what can be compared.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = await self.of(service, replica)
            if health and self.engine.pid(service):
                return health
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{service} not healthy after {timeout}s; see `{self.engine.command} logs "
                           f"{self.engine.container(service)}`")
