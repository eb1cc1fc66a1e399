"""The facts identity's policy decides on (`domain/policy.py`): the caller's standing in the account
(owner, status, whether their role administers it) and in the instance (role, its owner, its
state). The HTTP side and the handlers both ask here, so they decide alike."""

from __future__ import annotations

from crm_contracts.permissions import Facts, standing_facts

from . import repository
from .domain.instances import Instance


async def facts(conn, account_id: str | None, user_id: str | None, *, instance: Instance | None = None,
                operator: bool = False, about_user_id: str | None = None) -> Facts:
    standing = (await repository.accounts.account_standing(conn, account_id, user_id)
                if account_id and user_id and not operator else None)
    if instance is None or operator or user_id is None:
        return standing_facts(user_id, standing, operator=operator, about_user_id=about_user_id)
    person = standing_facts(user_id, standing, about_user_id=about_user_id)
    role = await repository.instances.instance_role(conn, instance.instance_id, user_id)
    if instance.kind == "enterprise" and person.status is not None:
        role = "owner" if person.account_owner else "agent"  # every person of the account is in its Enterprise instance
    return standing_facts(user_id, standing, about_user_id=about_user_id, instance_kind=instance.kind,
                          instance_owner=instance.owner_user_id == user_id, instance_role=role,
                          instance_state=instance.status)
