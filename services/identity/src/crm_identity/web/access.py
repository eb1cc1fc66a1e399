"""Every identity route asks `domain/policy.py` the same way: the facts about the caller in the
account and instance the route names, then the policy; a refusal is answered here, an unknown
instance with 404 after the refusal (so an outsider learns nothing of which instances exist)."""

from __future__ import annotations

from dataclasses import replace

from crm_runtime.http import Request, Response, action_name, caller, forbidden, json_response

from .. import access, repository
from ..domain import policy
from ..domain.instances import Instance


async def account_gate(request: Request, conn, account_id: str | None, *,
                       about_user_id: str | None = None) -> Response | None:
    me = caller(request)
    facts = await access.facts(conn, account_id, me.user_id, operator=me.operator, about_user_id=about_user_id)
    if account_id is None and not me.operator:  # about themselves across accounts: their best standing
        facts = replace(facts, status=await repository.best_status(conn, me.user_id))
    decision = policy.route(action_name(request), facts)
    return None if decision else forbidden(request, decision)


async def instance_gate(request: Request, conn, instance_id: str) -> tuple[Response | None, Instance | None]:
    me = caller(request)
    instance = await repository.get_instance(conn, instance_id)
    facts = await access.facts(conn, instance.account_id if instance else None, me.user_id, instance=instance,
                               operator=me.operator)
    if not (decision := policy.route(action_name(request), facts)):
        return forbidden(request, decision), instance
    if instance is None:
        return json_response({"error": "unknown_instance", "instance_id": instance_id}, 404), None
    return None, instance
