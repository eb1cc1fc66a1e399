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


def payload(push: dict) -> dict:
    """What the push provider is handed: the text, where tapping it leads (`destination`: its
    instance and path) and, from another instance than the one the device is in, `source` — that
    instance's id and name ("the notification will display the source information")."""
    elsewhere = push["device_instance_id"] is not None and push["device_instance_id"] != push["instance_id"]
    return {**{k: push[k] for k in ("push_id", "notification_id", "user_id", "device_id", "device", "instance_id",
                                    "instance_name", "title", "body")},
            "destination": {"instance_id": push["instance_id"], "path": push["path"]},
            "source": {"instance_id": push["instance_id"], "instance_name": push["instance_name"]} if elsewhere else None}
