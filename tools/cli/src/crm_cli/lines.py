"""Records as one readable line each, for people watching the platform (demo, topic watchers)."""

from __future__ import annotations

from typing import Protocol

from crm_contracts import CloudEvent


class Record(Protocol):
    topic: str
    key: str | None
    headers: dict[str, str]
    event: CloudEvent | None

# The fields worth showing per type; others show none beyond the envelope.
_KEY_FIELDS = {
    "identity.account.create": ["name", "tier"],
    "identity.account.created": ["tier", "enterprise_instance_id"],
    "identity.account.set_opt_in": ["enabled"],
    "identity.account.opt_in_changed": ["enabled"],
    "identity.member.add": ["user_id", "activation", "user_type"],
    "identity.member.added": ["user_id", "status"],
    "identity.member.status_changed": ["user_id", "from_status", "to_status", "reason"],
    "identity.invitation.issued": ["user_id", "kind", "expires_at"],
    "identity.invitation.accept": [],
    "identity.invitation.accepted": ["user_id", "kind"],
    "identity.member.complete_onboarding": ["user_id"],
    "identity.member.deactivate": ["user_id"],
    "identity.member.reactivate": ["user_id"],
    "identity.account.owner_alerted": ["alert", "user_id"],
    "identity.command.rejected": ["command_type", "reason"],
    "seats.subscription.set": ["seats_total", "seat_price_cents", "currency"],
    "seats.subscription.changed": ["seats_total", "seats_used"],
    "seats.seat.reserved": ["user_id", "seats_used", "seats_total", "auto_upgraded", "account_owner"],
    "seats.seat.released": ["user_id", "seats_used", "seats_total"],
    "seats.seat.denied": ["user_id", "reason"],
    "seats.account.upgraded": ["user_id", "from_total", "to_total", "unit_price_cents", "reason"],
    "seats.addon.cancelled": ["instance_id", "addon", "by_user_id", "ends_on"],
    "seats.charge.created": ["amount_cents", "currency", "proration"],
    "seats.command.rejected": ["command_type", "reason"],
    "notifications.unread.changed": ["user_id", "counts"],
}


def _value(v) -> str:
    if isinstance(v, dict) and set(v) == {"days_remaining", "days_in_period"}:
        return f"{v['days_remaining']}/{v['days_in_period']}"  # a proration: days charged of the period
    if isinstance(v, dict):
        shown = ",".join(f"{k}:{x}" for k, x in list(v.items())[:3])
        return shown + (f",…(+{len(v) - 3})" if len(v) > 3 else "")
    return str(v)


def describe(event: CloudEvent) -> str:
    fields = _KEY_FIELDS.get(event.type, list(event.data)[:4])
    shown = " ".join(f"{k}={_value(event.data[k])}" for k in fields if k in event.data)
    at = event.time.strftime("%H:%M:%S.%f")[:-3] if event.time else "--:--:--.---"
    return f"{at}  {event.type:<34} {event.accountid:<18} {shown}"


def describe_record(record: Record) -> str:
    if record.event is None:
        reason = record.headers.get("dlq_reason", "unreadable")
        return f"{'':12}  {record.topic:<34} key={record.key} dlq_reason={reason}"
    return describe(record.event)


_SERVICE_COLOURS = {"identity": "cyan", "seats": "green", "notifications": "magenta", "routing": "yellow",
                    "leads": "blue"}


def style_of(topic: str, type_: str | None) -> str:
    """Rich style of a line: dead letters red, rejections bold yellow, else the service's colour."""
    if topic.endswith(".dlq"):
        return "bold red"
    if type_ and type_.endswith(".command.rejected"):
        return "bold yellow"
    return _SERVICE_COLOURS.get(topic.split(".")[0], "white")
