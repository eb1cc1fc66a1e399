"""Notifications' settings on top of the shared ones."""

from __future__ import annotations

import ssl
from typing import Literal

from pydantic import Field

from crm_runtime.sealed import Opener, configured
from crm_runtime.settings import ServiceSettings

LEASE_PAST_DEADLINE = 1.5  # the lease outlasts the send's deadline by half, for the commit of "sent"


class NotificationSettings(ServiceSettings):
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65_535)
    smtp_from: str = "CRM <no-reply@crm.example>"
    # Each step of the SMTP exchange (connect, EHLO, MAIL, RCPT, DATA …) answers within
    # `smtp_timeout_s`; the whole exchange within `smtp_send_deadline_s`, or it is cut and retried.
    # An e-mail is leased to one worker for the deadline and a margin, so no other worker (another
    # replica) takes it while a slow send is still under way.
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=300)
    smtp_send_deadline_s: float = Field(default=60.0, gt=0, le=900)
    # How the relay is reached: `starttls` (upgrade the connection, refuse to send if the server
    # cannot), `tls` (implicit TLS, usually port 465) or `off` (plain text: only for a relay on the
    # same host). E-mails carry invitation links, so it is never off by default. `SMTP_CA_FILE`
    # trusts a private CA (the local stack's generated certificate) besides the system's.
    smtp_tls: Literal["starttls", "tls", "off"] = "starttls"
    smtp_ca_file: str = ""
    # A temporary SMTP failure is retried with doubling delays up to this many attempts
    # (about two minutes with the defaults) before notifications.email.failed.
    smtp_max_attempts: int = Field(default=8, ge=1, le=100)
    smtp_retry_first_delay_s: float = Field(default=0.5, gt=0, le=60)
    smtp_retry_max_delay_s: float = Field(default=30.0, gt=0, le=3600)
    # Where the recording push provider writes what it would send (JSON lines).
    push_log_path: str = ".run/push/pushes.jsonl"
    delivery_poll_s: float = Field(default=0.2, gt=0, le=60)
    # The private key (PEM) that opens invitation tokens identity sealed to notifications.
    invitation_seal_private_key_file: str = ""

    @property
    def email_lease_s(self) -> float:
        return max(self.smtp_send_deadline_s, self.smtp_timeout_s) * LEASE_PAST_DEADLINE

    def smtp_tls_args(self) -> dict:
        """aiosmtplib's arguments for `smtp_tls`."""
        if self.smtp_tls == "off":
            return {"start_tls": False, "use_tls": False}
        context = ssl.create_default_context(cafile=self.smtp_ca_file or None)
        return {"start_tls": self.smtp_tls == "starttls", "use_tls": self.smtp_tls == "tls", "tls_context": context}

    @property
    def opener(self) -> Opener:
        return configured(Opener, self.invitation_seal_private_key_file, "INVITATION_SEAL_PRIVATE_KEY_FILE")
