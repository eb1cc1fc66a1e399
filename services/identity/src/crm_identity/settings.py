"""Identity's settings on top of the shared ones."""

from __future__ import annotations

from datetime import timedelta

from crm_runtime.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    invitation_ttl_hours: float = 7 * 24

    @property
    def invitation_ttl(self) -> timedelta:
        return timedelta(hours=self.invitation_ttl_hours)
