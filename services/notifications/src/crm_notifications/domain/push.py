"""Which devices get a push for a notification (PI8)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Session:
    device_id: str
    device: str  # web | mobile
    instance_id: str


def devices_to_push(notification_instance: str, sessions: list[Session]) -> list[Session]:
    """Web devices hear from every instance of the user; a mobile device only from the
    instance it is logged into (the others still count as unread)."""
    return [s for s in sessions if s.device == "web" or s.instance_id == notification_instance]
