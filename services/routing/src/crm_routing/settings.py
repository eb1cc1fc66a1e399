"""Routing's settings: the shared ones (it has none of its own yet)."""

from __future__ import annotations

from crm_runtime.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    pass
