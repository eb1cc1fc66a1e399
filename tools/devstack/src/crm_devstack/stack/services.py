"""The four services as processes: their environment, start, stop, replicas."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass

from .auth import Credentials
from .kafka import KafkaBroker
from .layout import Layout
from .mail import MailServer
from .processes import alive, read_pid, spawn, stop


@dataclass
class ServiceProcesses:
    """The four services as processes of this machine, each replica by its PID file."""

    layout: Layout
    kafka: KafkaBroker
    mail: MailServer
    auth: Credentials

    def env(self, service: str, replica: int = 1) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.layout.bootstrap,
            "DATABASE_URL": self.layout.database_url(service),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.layout.port(service, replica)),
            "PUBLIC_BASE_URL": self.layout.http(service),
            "GROUP_SUFFIX": self.layout.group_suffix,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.layout.smtp_port),
            # The local server requires STARTTLS with its own certificate, which is trusted here.
            "SMTP_TLS": "starttls",
            "SMTP_CA_FILE": str(self.layout.run / "mail-tls" / "smtp-cert.pem"),
            # A loopback server answers at once: a short deadline, so an e-mail whose worker was
            # killed mid-send is taken again after a 22.5 s lease instead of the default 90 s.
            "SMTP_TIMEOUT_S": "5",
            "SMTP_SEND_DEADLINE_S": "15",
            "PUSH_LOG_PATH": str(self.mail.push_log),
            "PYTHONUNBUFFERED": "1",
            **self.auth.keys_env(service),
            **self.kafka.client_env(service),
            **self.layout.extra_env,
        }

    def pid(self, service: str, replica: int = 1) -> int | None:
        pid = read_pid(self.layout.pids / f"{self.layout.process_name(service, replica)}.pid")
        return pid if alive(pid) else None

    def start(self, service: str, env: dict[str, str] | None = None, replica: int = 1) -> int:
        running = self.pid(service, replica)
        if running:
            return running
        name = self.layout.process_name(service, replica)
        return spawn([sys.executable, "-m", f"crm_{service}"], log_file=self.layout.logs / f"{name}.log",
                     pid_file=self.layout.pids / f"{name}.pid",
                     env={**self.env(service, replica), **(env or {})})

    def stop(self, service: str, replica: int = 1, *, kill: bool = False) -> bool:
        """SIGTERM (the service drains and commits what it holds), or SIGKILL with `kill`."""
        return stop(self.layout.pids / f"{self.layout.process_name(service, replica)}.pid", sig=signal.SIGKILL if kill else signal.SIGTERM)
