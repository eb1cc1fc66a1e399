"""Routing's HTTP side: leads with their routing history (`leads`) and each instance's lead
organisation (`organisation`) and routing rules with their dry run (`rules`), for the members of
the instance; the instance Open API
(`open_api`), for its API keys."""

from __future__ import annotations

from crm_runtime.http import Route
from crm_runtime.service import Service

from . import leads, open_api, organisation, rules


def routes(svc: Service) -> list[Route]:
    return leads.routes(svc) + organisation.routes(svc) + rules.routes(svc) + open_api.routes(svc)
