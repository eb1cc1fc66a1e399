"""Routing's HTTP side: /health and /metrics only, until leads can be read."""

from __future__ import annotations

from crm_runtime.http import Route
from crm_runtime.service import Service


def routes(svc: Service) -> list[Route]:
    return []
