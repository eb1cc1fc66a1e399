"""Identity's HTTP side: the invitation page people open from their e-mail, read endpoints, and
API keys. Every endpoint but the invitation page takes a bearer token; `web/access.py` and
`may_administer_account` decide what its subject may see or do."""

from __future__ import annotations

from typing import Any

from crm_runtime.http import Route

from . import api_keys, invitation_page, reads

ROUTES: list[Route] = [*invitation_page.ROUTES, *reads.ROUTES, *api_keys.ROUTES]


def routes(_svc: Any = None) -> list[Route]:
    """The endpoints are module-level; each finds its service on the request."""
    return ROUTES
