"""crm-platform wire contract (v1): rendered for people in generated/contract.md.

Importing the package registers every topic and type, so `TOPICS` and `MESSAGES` are complete.
"""

from . import calls, identity, leads, notifications, organisation, routing, seats
from .envelope import CloudEvent, command, event_caused_by, new_id, now, record_headers
from .registry import MESSAGES, TOPICS, Direction, KeyRule, Message, MessageSpec, Topic, UnknownType, spec_of, type_of

REJECTED_TYPE = {
    "identity": identity.IdentityCommandRejected,
    "seats": seats.SeatsCommandRejected,
    "routing": routing.RoutingCommandRejected,
    "notifications": notifications.NotificationsCommandRejected,
}

__all__ = [
    "MESSAGES",
    "REJECTED_TYPE",
    "TOPICS",
    "CloudEvent",
    "Direction",
    "KeyRule",
    "Message",
    "MessageSpec",
    "Topic",
    "UnknownType",
    "calls",
    "command",
    "event_caused_by",
    "record_headers",
    "identity",
    "leads",
    "new_id",
    "notifications",
    "now",
    "organisation",
    "routing",
    "seats",
    "spec_of",
    "type_of",
]
