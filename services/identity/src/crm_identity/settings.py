"""Identity's settings on top of the shared ones."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from crm_runtime.sealed import Sealer
from crm_runtime.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    invitation_ttl_hours: float = 7 * 24
    # Notifications' public key (PEM): invitation tokens are sealed to it and to nobody else.
    invitation_seal_public_key_file: str = ""

    @property
    def sealer(self) -> Sealer:
        if not self.invitation_seal_public_key_file:
            raise RuntimeError("INVITATION_SEAL_PUBLIC_KEY_FILE is not set: invitations cannot be issued")
        return _sealer(self.invitation_seal_public_key_file)

    @property
    def invitation_ttl(self) -> timedelta:
        return timedelta(hours=self.invitation_ttl_hours)


@cache
def _sealer(path: str) -> Sealer:
    return Sealer.from_file(path)
