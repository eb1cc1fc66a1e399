"""The notifications service. Until its handlers exist, commands are answered with
`notifications.command.rejected` (`unsupported_command`) rather than left unanswered."""

from __future__ import annotations

from crm_contracts import identity, notifications, routing, seats
from crm_runtime.db import migrations_of
from crm_runtime.handling import Handlers
from crm_runtime.service import Service

handlers = Handlers()


def service() -> Service:
    return Service("notifications", handlers,
                   consumes=[notifications.COMMANDS, identity.EVENTS, seats.EVENTS, routing.EVENTS],
                   migrations=migrations_of("crm_notifications"))
