"""Every person-facing route asks routing's policy the same way: the facts about the caller and the
instance the route names, then `domain/policy.py`; a refusal is raised as the runtime's `Answer`,
an unknown instance as 404 after the refusal (so an outsider learns nothing of which exist)."""

from __future__ import annotations

from typing import Any

from crm_runtime.http import Answer, Request, action_name, allow, caller, service

from .. import access
from ..domain import policy


async def instance_gate(request: Request, conn, instance_id: str) -> Any:
    """The instance's row, once the caller may use this route on it."""
    me = caller(request)
    facts, row = await access.facts(conn, instance_id, me.user_id, at=service(request).clock(None),
                                    operator=me.operator)
    allow(policy.route(action_name(request), facts))
    if row is None:
        raise Answer(404, "not_found", instance_id=instance_id)
    return row
