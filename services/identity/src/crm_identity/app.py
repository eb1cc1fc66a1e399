"""The identity service: its subscriptions, HTTP routes and wiring."""

from __future__ import annotations

from crm_contracts import identity, routing, seats
from crm_runtime.db import migrations_of
from crm_runtime.service import Service

from .handlers import handlers
from .settings import IdentitySettings
from .web import routes


def service() -> Service:
    return Service("identity", handlers, consumes=[identity.COMMANDS, seats.EVENTS, routing.KEY_USAGE],
                   migrations=migrations_of("crm_identity"), settings=IdentitySettings(), routes=routes)
