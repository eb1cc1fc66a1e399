"""The routing service: its subscriptions, HTTP routes and wiring."""

from __future__ import annotations

from crm_contracts import identity, leads, routing
from crm_runtime.db import migrations_of
from crm_runtime.service import Service

from . import roster, timers
from .handlers import handlers
from .settings import RoutingSettings
from .web import routes


def service() -> Service:
    return Service("routing", handlers, consumes=[routing.COMMANDS, leads.CAPTURED, identity.EVENTS],
                   migrations=migrations_of("crm_routing"), settings=RoutingSettings(), routes=routes,
                   workers=[timers.run], prepare=roster.rebuild_if_new)
