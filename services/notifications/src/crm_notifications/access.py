"""The facts notifications' policy decides on (`domain/policy.py`), from its copy of each account:
its owner, and each member's status and whether they administer it, as identity published them."""

from __future__ import annotations

from dataclasses import replace

from crm_contracts.permissions import Facts, standing_facts

from . import repository


async def facts(conn, account_id: str | None, user_id: str | None, *, operator: bool = False,
                about_user_id: str | None = None) -> Facts:
    if account_id is None and user_id is not None and not operator:
        # A person's own items span accounts: their best standing in any.
        found = standing_facts(user_id, None, about_user_id=about_user_id)
        return replace(found, status=await repository.emails.best_status(conn, user_id))
    standing = (await repository.emails.account_standing(conn, account_id, user_id)
                if account_id and user_id and not operator else None)
    return standing_facts(user_id, standing, operator=operator, about_user_id=about_user_id)
