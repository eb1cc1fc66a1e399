"""Notifications' settings on top of the shared ones."""

from __future__ import annotations

import ssl
from typing import Literal

from crm_runtime.sealed import Opener, configured
from crm_runtime.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_from: str = "CRM <no-reply@crm.example>"
    smtp_timeout_s: float = 10.0
    # How the relay is reached: `starttls` (upgrade the connection, refuse to send if the server
    # cannot), `tls` (implicit TLS, usually port 465) or `off` (plain text: only for a relay on the
    # same host). E-mails carry invitation links, so it is never off by default. `SMTP_CA_FILE`
    # trusts a private CA (the local stack's generated certificate) besides the system's.
    smtp_tls: Literal["starttls", "tls", "off"] = "starttls"
    smtp_ca_file: str = ""
    # A temporary SMTP failure is retried with doubling delays up to this many attempts
    # (about two minutes with the defaults) before notifications.email.failed.
    smtp_max_attempts: int = 8
    smtp_retry_first_delay_s: float = 0.5
    smtp_retry_max_delay_s: float = 30.0
    # Where the recording push provider writes what it would send (JSON lines).
    push_log_path: str = ".run/push/pushes.jsonl"
    delivery_poll_s: float = 0.2
    # The private key (PEM) that opens invitation tokens identity sealed to notifications.
    invitation_seal_private_key_file: str = ""

    def smtp_tls_args(self) -> dict:
        """aiosmtplib's arguments for `smtp_tls`."""
        if self.smtp_tls == "off":
            return {"start_tls": False, "use_tls": False}
        context = ssl.create_default_context(cafile=self.smtp_ca_file or None)
        return {"start_tls": self.smtp_tls == "starttls", "use_tls": self.smtp_tls == "tls", "tls_context": context}

    @property
    def opener(self) -> Opener:
        return configured(Opener, self.invitation_seal_private_key_file, "INVITATION_SEAL_PRIVATE_KEY_FILE")
