"""The seats service: its subscriptions, HTTP routes and wiring."""

from __future__ import annotations

from crm_contracts import identity, seats
from crm_runtime.db import migrations_of
from crm_runtime.service import Service

from .handlers import handlers
from .settings import SeatsSettings
from .web import routes


def service() -> Service:
    return Service("seats", handlers, consumes=[seats.COMMANDS, identity.EVENTS],
                   migrations=migrations_of("crm_seats"), settings=SeatsSettings(), routes=routes)
