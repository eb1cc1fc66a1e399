"""The development SMTP server (STARTTLS required) and the push log the services write."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .layout import Layout
from .mailserver import certificate
from .processes import alive, read_pid, spawn, stop


@dataclass
class MailServer:
    """The SMTP server the services send through, and where what they send lands."""

    layout: Layout

    @property
    def maildir(self) -> Path:
        return self.layout.run / "mail"

    @property
    def push_log(self) -> Path:
        return self.layout.run / "push" / "pushes.jsonl"

    def start(self) -> None:
        if alive(read_pid(self.layout.pids / "mail.pid")):
            return
        cert, key = certificate(self.layout.run / "mail-tls")
        spawn([sys.executable, "-m", "crm_devstack.stack.mailserver", "--port", str(self.layout.smtp_port),
               "--maildir", str(self.maildir), "--tls-cert", str(cert), "--tls-key", str(key)],
              log_file=self.layout.logs / "mail.log", pid_file=self.layout.pids / "mail.pid")

    def stop(self) -> bool:
        return stop(self.layout.pids / "mail.pid")

    async def wait(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.layout.smtp_port)
                writer.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the SMTP server did not start; see {self.layout.logs / 'mail.log'}") from None
                await asyncio.sleep(0.2)
