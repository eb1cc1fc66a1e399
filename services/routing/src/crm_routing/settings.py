"""Routing's settings on top of the shared ones."""

from __future__ import annotations

from pydantic import Field

from crm_runtime.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    # Unknown Open API keys one client address may send a minute before it is told to wait. Behind
    # a proxy or an engine's port forwarding every client shares one address: raise it there.
    open_api_misses_per_minute: int = Field(default=30, ge=1, le=1_000_000)
    # How often stored claim timers are looked at: a timer fires within this of its due time.
    timer_poll_s: float = Field(default=0.25, gt=0, le=60)
