"""Every person-facing route asks routing's policy the same way: the facts about the caller and the
instance the route names, then `domain/policy.py`; a refusal is answered here, an unknown instance
with 404 (after the refusal, so an outsider learns nothing of which instances exist)."""

from __future__ import annotations

from typing import Any

from crm_runtime.http import Request, Response, action_name, caller, forbidden, json_response

from .. import access
from ..domain import policy


async def instance_gate(request: Request, conn, instance_id: str) -> tuple[Response | None, Any]:
    """(None, the instance's row) when the caller may use this route on the instance; else the answer."""
    me = caller(request)
    facts, row = await access.facts(conn, instance_id, me.user_id, operator=me.operator)
    if not (decision := policy.route(action_name(request), facts)):
        return forbidden(request, decision), row
    if row is None:
        return json_response({"error": "not_found", "instance_id": instance_id}, 404), None
    return None, row
