"""The written permission model covers everything and says what the code decides: every HTTP route
each service serves and every command type it handles is in its policy (and nothing else is), and
docs/permissions.md is what `python -m crm_devstack.permissions_doc` renders from the code."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from crm_contracts import MESSAGES, Direction
from crm_devstack import permissions_doc

# The runtime's own endpoints every service has, for probes and scraping; no person's data.
INFRASTRUCTURE = {"GET /health", "GET /metrics"}


def _served(policy) -> set[str]:
    web = __import__(f"crm_{policy.SERVICE}.web", fromlist=["routes"])
    # routes() only builds the endpoints; nothing of the service is touched until a request.
    stub = SimpleNamespace(processor=None, pool=None, clock=None,
                           settings=SimpleNamespace(base_url=lambda: "http://127.0.0.1:8001"))
    names = set()
    for route in web.routes(stub):
        for method in sorted(route.methods - {"HEAD"}):
            names.add(f"{method} {route.path}")
    return names


def _handled_commands(policy) -> set[str]:
    handlers = __import__(f"crm_{policy.SERVICE}.handlers", fromlist=["handlers"]).handlers
    return {t for t in handlers.types if MESSAGES[t].topic.direction is Direction.COMMANDS}


@pytest.mark.parametrize("policy", permissions_doc.POLICIES, ids=lambda p: p.SERVICE)
def test_every_route_and_command_is_in_the_written_model(policy):
    served = _served(policy) - INFRASTRUCTURE
    listed = {name for name in policy.ROUTES if "?" not in name}  # `?…` rows are a route's variants
    assert served == listed, {"served, not in the model": served - listed, "in the model, not served": listed - served}
    handled = _handled_commands(policy)
    assert handled == set(policy.COMMANDS), {"handled, not in the model": handled - set(policy.COMMANDS),
                                             "in the model, not handled": set(policy.COMMANDS) - handled}


def test_the_document_is_what_the_code_decides():
    assert permissions_doc.DOC.read_text() == permissions_doc.render(), \
        "docs/permissions.md is stale: run `python -m crm_devstack.permissions_doc`"
