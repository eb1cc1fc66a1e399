"""Notifications' settings on top of the shared ones."""

from __future__ import annotations

from crm_runtime.sealed import Opener, configured
from crm_runtime.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_from: str = "CRM <no-reply@crm.example>"
    smtp_timeout_s: float = 10.0
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

    @property
    def opener(self) -> Opener:
        return configured(Opener, self.invitation_seal_private_key_file, "INVITATION_SEAL_PRIVATE_KEY_FILE")
