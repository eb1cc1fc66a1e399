"""One function per routing command, captured lead or identity event, split by what it is about:
the roster (`roster`), a captured lead (`leads`), claims and timers (`claims`), an instance's
rules, agents and transfers (`instances`), lead organisation (`organisation`), the Open API's key use (`open_api`)."""

from __future__ import annotations

from crm_runtime.handlers import Handlers

from . import claims, instances, leads, open_api, organisation, roster

handlers = Handlers.combine(roster.handlers, leads.handlers, claims.handlers, instances.handlers,
                            organisation.handlers, open_api.handlers)
