"""Routing's HTTP side: leads with their routing history (`leads`) and each instance's lead
organisation (`organisation`), for the members of the instance."""

from __future__ import annotations

from crm_runtime.http import Route
from crm_runtime.service import Service

from . import leads, organisation


def routes(svc: Service) -> list[Route]:
    return leads.routes(svc) + organisation.routes(svc)
