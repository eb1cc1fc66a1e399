"""Identity's settings on top of the shared ones."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from crm_runtime.sealed import Sealer, configured
from crm_runtime.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    invitation_ttl_hours: float = Field(default=7 * 24, gt=0, le=90 * 24)
    # Notifications' public key (PEM): invitation tokens are sealed to it and to nobody else.
    invitation_seal_public_key_file: str = ""

    @property
    def sealer(self) -> Sealer:
        return configured(Sealer, self.invitation_seal_public_key_file, "INVITATION_SEAL_PUBLIC_KEY_FILE")

    @property
    def invitation_ttl(self) -> timedelta:
        return timedelta(hours=self.invitation_ttl_hours)
