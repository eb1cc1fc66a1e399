"""The routing service. Until its handlers exist, commands are answered with
`routing.command.rejected` (`unsupported_command`) rather than left unanswered."""

from __future__ import annotations

from crm_contracts import identity, leads, routing
from crm_runtime.db import migrations_of
from crm_runtime.handling import Handlers
from crm_runtime.service import Service

handlers = Handlers()


def service() -> Service:
    return Service("routing", handlers, consumes=[routing.COMMANDS, leads.CAPTURED, identity.EVENTS],
                   migrations=migrations_of("crm_routing"))
