"""The development SMTP server (STARTTLS required) and the push log the services write."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from .layout import Layout
from .mailserver import certificate
from .processes import alive, read_pid, spawn, stop


class MailServer(Layout):
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
        spawn([sys.executable, "-m", "crm_devstack.stack.mailserver", "--port", str(self.smtp_port),
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
