"""What the invitation tests read from an issued invitation: the token its link carries."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse


def token_of(platform, invitation) -> str:
    return parse_qs(urlparse(platform.stack.auth.invitation_link(invitation)).query)["token"][0]
