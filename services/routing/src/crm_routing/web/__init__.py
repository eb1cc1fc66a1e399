"""Routing's HTTP side: leads with their routing history (`leads`) and each instance's lead
organisation (`organisation`) and routing rules with their dry run (`rules`), for the members of
the instance; the instance Open API
(`open_api`), for its API keys."""

from __future__ import annotations

from typing import Any

from crm_runtime.http import Route

from . import leads, open_api, organisation, rules

ROUTES: list[Route] = [*leads.ROUTES, *organisation.ROUTES, *rules.ROUTES, *open_api.ROUTES]


def routes(_svc: Any = None) -> list[Route]:
    """The endpoints are module-level; each finds its service on the request."""
    return ROUTES
