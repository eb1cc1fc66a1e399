"""An invitation e-mail whose sealed token does not open is a permanent failure, never a send
with a broken or missing link."""

from __future__ import annotations

import pytest

from crm_notifications.delivery import Mailer, PermanentFailure
from crm_notifications.domain.templates import TOKEN_SLOT
from crm_notifications.settings import NotificationSettings
from crm_runtime.sealed import Sealer, ensure_keys


def row(sealed: str) -> dict:
    return {"subject": "Join", "html": f"<a href=\"http://x/invitations/accept?token={TOKEN_SLOT}\">Join</a>",
            "sealed_token": sealed, "to_address": "a@example.com", "message_id": "<m@crm>"}


@pytest.mark.parametrize("sealed", ["junk", "v1.0000000000000000.AAAA", None])
async def test_a_token_sealed_for_another_key_or_garbled_is_not_sent(tmp_path, sealed):
    private, _ = ensure_keys(tmp_path / "mine")
    _, theirs = ensure_keys(tmp_path / "theirs")
    settings = NotificationSettings(invitation_seal_private_key_file=str(private), smtp_port=1)
    sealed = sealed or Sealer.from_file(str(theirs)).seal("tok")  # None: sealed to another reader
    with pytest.raises(PermanentFailure, match="the invitation token cannot be opened"):
        await Mailer(settings).send(row(sealed))
