"""Every identity route asks `domain/policy.py` the same way: the facts about the caller in the
account and instance the route names, then the policy; a refusal is raised as the runtime's
`Answer`, an unknown instance as 404 after the refusal (so an outsider learns nothing of which
instances exist)."""

from __future__ import annotations

from dataclasses import replace

from crm_runtime.http import Answer, Request, action_name, allow, caller

from .. import access, repository
from ..domain import policy
from ..domain.instances import Instance


async def account_gate(request: Request, conn, account_id: str | None, *, about_user_id: str | None = None) -> None:
    me = caller(request)
    facts = await access.facts(conn, account_id, me.user_id, operator=me.operator, about_user_id=about_user_id)
    if account_id is None and not me.operator:  # about themselves across accounts: their best standing
        facts = replace(facts, status=await repository.accounts.best_status(conn, me.user_id))
    allow(policy.route(action_name(request), facts))


async def instance_gate(request: Request, conn, instance_id: str) -> Instance:
    """The instance, once the caller may use this route on it."""
    me = caller(request)
    instance = await repository.instances.get_instance(conn, instance_id)
    facts = await access.facts(conn, instance.account_id if instance else None, me.user_id, instance=instance,
                               operator=me.operator)
    allow(policy.route(action_name(request), facts))
    if instance is None:
        raise Answer(404, "unknown_instance", instance_id=instance_id)
    return instance
