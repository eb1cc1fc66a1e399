"""The testcontainers fixtures' containers, read from docker-compose.yml so the two paths cannot
drift: the same images, commands, environment and mounts, on a network of their own, with every
published port moved to a free one on 127.0.0.1 (so they run beside `make up` or a compose stack).

`settings()` is pure (a unit test checks it on machines without an engine); `started()` hands
the settings to testcontainers' generic `DockerContainer` — its Kafka module is Confluent's and
refuses the apache/kafka image in KRaft mode — and returns a `ContainerStack`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .containers import PG_ADMIN, ContainerStack, engine_command, images_env
from .layout import SERVICES, repo_root

# The order the containers start in, each waited for before the next (compose's depends_on).
ORDER = ("postgres", "kafka", "init", "mail", *SERVICES)
# Docker's API version both engines speak: stated, so building a container asks nothing of the
# engine (the SDK otherwise asks the engine its version when a client is made).
API_VERSION = "1.41"
READY_LOG = {"kafka": "Kafka Server started", "postgres": "database system is ready to accept connections"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ContainerSettings:
    component: str
    name: str
    image: str
    command: list[str] | None
    env: dict[str, str]
    ports: dict[int, int]  # container port -> host port on 127.0.0.1
    volumes: list[tuple[str, str, str]]  # host path, container path, mode
    user: str | None
    one_shot: bool = False
    ready_log: str | None = None
    aliases: list[str] = field(default_factory=list)


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${NAME}` and `${NAME:-default}`."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(root: Path, run: Path, env: dict[str, str], ports: dict[int, int] | None = None,
             prefix: str | None = None) -> list[ContainerSettings]:
    """Every container of docker-compose.yml in start order. `ports` maps each published host port
    of the compose file to the one to use (free ports by default); addresses in the environment
    that name a published port (PUBLIC_BASE_URL, Kafka's advertised listener) follow it."""
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    env = {**env, "CRM_RUN": str(run)}
    prefix = prefix or f"crm-tc-{uuid.uuid4().hex[:8]}"
    published = {int(p.split(":")[1]): int(p.split(":")[2])
                 for spec in compose["services"].values() for p in spec.get("ports", [])}
    moved = ports or {host: free_port() for host in published}
    out = []
    for component in ORDER:
        spec = compose["services"][component]
        environment = {k: _moved(interpolate(str(v), env), moved) for k, v in (spec.get("environment") or {}).items()}
        volumes = []
        for volume in spec.get("volumes", []):
            host, container, *mode = interpolate(volume, env).split(":")
            host_path = Path(host) if Path(host).is_absolute() else (root / host).resolve()
            volumes.append((str(host_path), container, mode[0] if mode else "rw"))
        command = [interpolate(str(part), env) for part in spec["command"]] if spec.get("command") else None
        out.append(ContainerSettings(
            component=component, name=f"{prefix}-{component}", image=interpolate(spec["image"], env),
            command=command, env=environment,
            ports={container: moved[host] for host, container in
                   ((int(p.split(":")[1]), int(p.split(":")[2])) for p in spec.get("ports", []))},
            volumes=volumes, user=interpolate(str(spec["user"]), env) if "user" in spec else None,
            one_shot=spec.get("restart") == "no", ready_log=READY_LOG.get(component), aliases=[component]))
    return out


def _moved(value: str, moved: dict[int, int]) -> str:
    return re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{moved.get(int(m.group(1)), int(m.group(1)))}", value)


def stack_for(run: Path, root: Path, all_settings: list[ContainerSettings], engine: str) -> ContainerStack:
    """The handle tests use, pointed at the containers' host ports."""
    by = {s.component: s for s in all_settings}
    host = {c: next(iter(by[c].ports.values())) for c in ("postgres", "kafka", "mail", *SERVICES)}
    return ContainerStack(root=root, run=run, kafka_bootstrap=f"127.0.0.1:{host['kafka']}",
                          pg_url=PG_ADMIN.format(port=host["postgres"]), smtp_port=host["mail"],
                          service_ports={s: host[s] for s in SERVICES}, engine_command=engine,
                          containers={s.component: s.name for s in all_settings})


def docker_container(s: ContainerSettings, network=None):
    """testcontainers' generic container for one settings entry (no engine is asked anything)."""
    from docker.types import Ulimit
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    # testcontainers types `command` as a string and a port's binding as a host port; the Docker
    # SDK under it takes an argument list (no shell splitting) and a (host address, port) pair.
    container = DockerContainer(s.image, docker_client_kw={"version": API_VERSION}, name=s.name,
                                command=s.command, env=s.env, volumes=s.volumes)  # type: ignore[arg-type]
    for inside, outside in s.ports.items():
        container.ports[f"{inside}/tcp"] = ("127.0.0.1", outside)  # type: ignore[assignment]  # loopback only
    if network is not None:
        container.with_network(network).with_network_aliases(*s.aliases)
    # Limits within a sandboxed machine's hard limits (podman otherwise asks for more and fails).
    kwargs: dict[str, Any] = {"ulimits": [Ulimit(name="nofile", soft=1024, hard=4096), Ulimit(name="nproc", soft=4096, hard=4096)]}
    if s.user is not None:
        kwargs["user"] = s.user
    container.with_kwargs(**kwargs)
    if s.ready_log:
        container.waiting_for(LogMessageWaitStrategy(s.ready_log).with_startup_timeout(180))
    return container


@contextlib.contextmanager
def started(root: Path | None = None, run: Path | None = None) -> Iterator[ContainerStack]:
    """Every container started in order on a network of its own; removed on exit."""
    from testcontainers.core.network import Network

    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # podman has no Ryuk; we remove what we start
    root = root or repo_root()
    env = images_env(root)
    run = run or root / ".run" / "containers" / uuid.uuid4().hex[:8]
    run.mkdir(parents=True, exist_ok=True)
    all_settings = settings(root, run, env)
    # The stack's own stops and starts go through the CLI of the engine testcontainers talks to.
    engine = "docker" if shutil.which("docker") else engine_command(env)
    network = Network(docker_client_kw={"version": API_VERSION})
    running = []
    with network:
        try:
            for s in all_settings:
                container = docker_container(s, network)
                container.start()
                running.append(container)
                if s.one_shot:
                    status = container.get_wrapped_container().wait(timeout=300)["StatusCode"]
                    if status != 0:
                        raise RuntimeError(f"{s.component} exited {status}:\n"
                                           f"{container.get_wrapped_container().logs().decode(errors='replace')}")
            yield stack_for(run, root, all_settings, engine)
        finally:
            for container in reversed(running):
                container.stop()
