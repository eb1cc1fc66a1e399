"""The stack when its parts run in containers: docker-compose.yml (`CRM_STACK=compose`) or the
testcontainers fixtures (`CRM_STACK=containers`).

Tests, the demo and the CLI use it like the local stack: the same addresses on 127.0.0.1, the
Maildir, push log and keys in a run folder the containers share with the host. Components stop,
die and start through the container engine instead of by PID. What only processes can do — a
second replica, a service started with its own settings — raises `NotImplementedError`, and the
tests that need it are marked `local_stack`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import Stack
from .auth import Credentials
from .engine import (
    COMPOSE_PROJECT,
    ContainerHealth,
    ContainerKafka,
    ContainerMail,
    ContainerPostgres,
    ContainerServices,
    Engine,
)
from .layout import SERVICES

# Written by `compose up`, removed by `compose down`: while it exists, `make demo`, `make test` and
# `crm-stack` use the compose stack without being told (CRM_STACK=local overrides it).
ACTIVE_MARK = Path(".run") / "compose.active"
PG_ADMIN = "postgresql://crm@127.0.0.1:{port}/postgres"


def images_env(root: Path) -> dict[str, str]:
    """The image names `make images` chose (.run/images.env), under what the environment sets."""
    path = root / ".run" / "images.env"
    chosen = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            if name and not name.startswith("#"):
                chosen[name.strip()] = value.strip()
    return {**chosen, **{k: v for k, v in os.environ.items() if k in chosen or k.startswith("CRM_")}}


def engine_command(env: dict[str, str]) -> str:
    """`docker` where a Docker engine answers (or CONTAINER_ENGINE says so), else `podman`."""
    if env.get("CONTAINER_ENGINE"):
        return env["CONTAINER_ENGINE"]
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return "docker"
    if shutil.which("podman"):
        return "podman"
    raise RuntimeError("no container engine: install Docker, or run scripts/container-engine.sh (podman)")


def compose_command(root: Path, engine: str) -> list[str]:
    """Docker's compose plugin with Docker; podman-compose with podman (Debian's has no plugin)."""
    if engine == "docker" and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        base = ["docker", "compose"]
    elif shutil.which("podman-compose"):
        base = ["podman-compose"]
    else:
        raise RuntimeError("no compose: install Docker's compose plugin, or podman-compose (scripts/container-engine.sh)")
    return [*base, "-p", COMPOSE_PROJECT, "-f", str(root / "docker-compose.yml")]


@dataclass
class ContainerStack(Stack):
    engine_command: str = "docker"
    # component -> container name or id; compose's containers are found by their labels instead.
    containers: dict[str, str] = field(default_factory=dict)
    service_ports: dict[str, int] = field(default_factory=lambda: dict(SERVICES))
    compose: bool = False
    engine: Engine = field(init=False, repr=False)

    def assemble(self) -> None:
        self.engine = engine = Engine(self.engine_command, self.containers, self.compose)
        self.kafka = ContainerKafka(self, engine=engine)
        self.postgres = ContainerPostgres(self, engine=engine)
        self.mail = ContainerMail(self, engine=engine)
        self.auth = Credentials(self)
        self.services = ContainerServices(self, kafka=self.kafka, mail=self.mail, auth=self.auth, engine=engine)
        self.health = ContainerHealth(self, kafka=self.kafka, services=self.services, engine=engine)

    @property
    def owns_parts(self) -> bool:
        return True

    @property
    def sees_client_address(self) -> bool:
        return False

    def database_url(self, service: str) -> str:
        """As the service's own role, as the services connect (the containers' server trusts the
        compose network and the host's loopback)."""
        port = self.admin_url.rsplit(":", 1)[1].split("/")[0]
        return f"postgresql://crm_{service}@127.0.0.1:{port}/crm_{service}"

    def port(self, service: str, replica: int = 1) -> int:
        if replica != 1:
            raise NotImplementedError("replicas are the local stack's (make up)")
        return self.service_ports[service]

    def log_text(self, component: str) -> str:
        return self.engine.logs(component)

    async def up(self, services: list[str] | None = None, say=print) -> None:
        """Waits for what the containers run: it starts nothing (compose or the fixtures did)."""
        await self.postgres.wait()
        await self.kafka.wait()
        await self.mail.wait()
        for service in services or list(SERVICES):
            await self.health.wait(service, timeout=180)
            say(f"{service:<10} healthy at {self.http(service)} (container {self.engine.container(service)})")

    def down(self, say=print) -> None:
        say("containers are stopped by `make compose-down` or by the fixtures that started them")


def compose_stack(root: Path | None = None) -> ContainerStack:
    """The stack docker-compose.yml runs, as seen from the host."""
    from .layout import repo_root

    root = root or repo_root()
    env = images_env(root)
    return ContainerStack(root=root, run=Path(env.get("CRM_RUN") or root / ".run" / "compose"),
                          kafka_bootstrap="127.0.0.1:9092", pg_url=PG_ADMIN.format(port=5433),
                          engine_command=engine_command(env), compose=True)


async def compose_up(say=print) -> ContainerStack:
    """docker-compose.yml brought up in stages, each waited for from the host: the databases and
    the broker, the init job (its exit code), the mail server, the services. podman-compose
    starts a service's dependencies without waiting for their conditions, and podman runs no
    healthchecks without systemd, so the waiting is done here, the same way for both engines."""
    stack = compose_stack()
    env = {**os.environ, **images_env(stack.root)}
    compose = compose_command(stack.root, stack.engine_command)
    stack.run.mkdir(parents=True, exist_ok=True)

    def up(*services: str) -> None:
        subprocess.run([*compose, "up", "-d", *services], check=True, env=env, capture_output=True)

    up("postgres", "kafka")
    await stack.postgres.wait(timeout=120)
    say(f"postgres   ready at {stack.admin_url}")
    await stack.kafka.wait(timeout=180)
    say(f"kafka      ready at {stack.bootstrap}")
    up("init")
    init = stack.engine.container("init")
    code = stack.engine.run("wait", init).strip().splitlines()[-1] if init else "?"
    if code != "0":
        raise RuntimeError(f"the init job failed ({code}):\n{stack.log_text('init')}")
    say("init       " + " · ".join(stack.log_text("init").strip().splitlines()))
    up("mail")
    await stack.mail.wait(timeout=60)
    say(f"smtp       ready at 127.0.0.1:{stack.smtp_port}, Maildir {stack.mail.maildir}")
    up(*SERVICES)
    for service in SERVICES:
        await stack.health.wait(service, timeout=180)
        say(f"{service:<10} healthy at {stack.http(service)}")
    (stack.root / ACTIVE_MARK).touch()
    return stack


def compose_down(say=print) -> None:
    stack = compose_stack()
    env = {**os.environ, **images_env(stack.root)}
    (stack.root / ACTIVE_MARK).unlink(missing_ok=True)
    subprocess.run([*compose_command(stack.root, stack.engine_command), "down"], check=True, env=env, capture_output=True)
    # podman-compose leaves the project's network behind (docker compose removes it).
    stack.engine.run("network", "rm", f"{COMPOSE_PROJECT}_default", check=False)
    say("compose stack stopped and removed")
