"""Who may call the services: the development signing keys, bearer tokens, the invitation seal key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crm_cli import tokens
from crm_runtime import sealed

from .layout import Layout


@dataclass
class Credentials:
    """The development identity provider's keys and the tokens and links made with them."""

    layout: Layout

    @property
    def folder(self) -> Path:
        return self.layout.run / "auth"

    def keys_env(self, service: str) -> dict[str, str]:
        """The development identity provider (its public keys, issuer and audience) for every
        service; the invitation sealing key's public half for identity, its private half for
        notifications."""
        env = {"AUTH_JWKS_FILE": str(tokens.ensure_dev_keys(self.folder)), "AUTH_ISSUER": tokens.DEV_ISSUER,
               "AUTH_AUDIENCE": tokens.DEV_AUDIENCE}
        private, public = sealed.ensure_keys(self.folder)
        if service == "identity":
            env["INVITATION_SEAL_PUBLIC_KEY_FILE"] = str(public)
        if service == "notifications":
            env["INVITATION_SEAL_PRIVATE_KEY_FILE"] = str(private)
        return env

    def invitation_link(self, issued) -> str:
        """The link of an `identity.invitation.issued`, as its e-mail carries it: opened with
        notifications' development key, standing in for reading the e-mail."""
        private, _ = sealed.ensure_keys(self.folder)
        token = sealed.Opener.from_file(str(private)).open(issued.data["sealed_token"])
        return f"{issued.data['accept_page_url']}?token={token}"

    def token(self, user_id: str, **options) -> str:
        tokens.ensure_dev_keys(self.folder)
        return tokens.mint(self.folder / tokens.PRIVATE_FILE, user_id, **options)

    def as_user(self, user_id: str, **options) -> dict[str, str]:
        """HTTP headers acting as `user_id` (`operator=True`: the operator scope, read-only)."""
        return {"Authorization": f"Bearer {self.token(user_id, **options)}"}

    def as_operator(self) -> dict[str, str]:
        return self.as_user("operator", operator=True)
