"""The four services as processes: their environment, start, stop, replicas; any component by name."""

from __future__ import annotations

import signal
import sys

from .layout import SERVICES, Layout
from .processes import alive, read_pid, spawn, stop


class ServiceProcesses(Layout):
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
            # A loopback server answers at once: a short deadline, so an e-mail whose worker was
            # killed mid-send is taken again after a 22.5 s lease instead of the default 90 s.
            "SMTP_TIMEOUT_S": "5",
            "SMTP_SEND_DEADLINE_S": "15",
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

    def stop_component(self, component: str, *, replica: int = 1, kill: bool = False,
                       broker: int | None = None) -> bool:
        """One part of the stack: `kafka` (every broker, or one), `postgres` or a service (one replica of it)."""
        if component == "kafka":
            return self.stop_kafka(kill=kill, broker=broker)
        if component == "postgres":
            return self.stop_postgres(kill=kill)
        if component not in SERVICES:
            raise ValueError(f"no component {component!r}: kafka, postgres, {', '.join(SERVICES)}")
        return self.stop_service(component, replica, kill=kill)

    async def start_component(self, component: str, *, replica: int = 1, broker: int | None = None) -> None:
        """Start one part again and return once it answers (a service: once healthy; a broker: once
        registered with the cluster)."""
        if component == "kafka":
            self.start_kafka(broker)
            await self.wait_kafka(broker=broker)
        elif component == "postgres":
            self.start_postgres()
            await self.wait_postgres()
        elif component in SERVICES:
            self.start_service(component, replica=replica)
            await self.wait_healthy(component, replica=replica, timeout=120)
        else:
            raise ValueError(f"no component {component!r}: kafka, postgres, {', '.join(SERVICES)}")
