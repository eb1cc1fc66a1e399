"""Identity's HTTP side: the invitation page people open from their e-mail, read endpoints, and
API keys. Every endpoint but the invitation page takes a bearer token; `web/access.py` and
`may_administer_account` decide what its subject may see or do."""

from __future__ import annotations

from crm_runtime.http import Route
from crm_runtime.service import Service

from . import api_keys, invitation_page, reads


def routes(svc: Service) -> list[Route]:
    return invitation_page.routes(svc) + reads.routes(svc) + api_keys.routes(svc)
