"""Routing's settings on top of the shared ones."""

from __future__ import annotations

from crm_runtime.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    # How often stored claim timers are looked at: a timer fires within this of its due time.
    timer_poll_s: float = 0.25
