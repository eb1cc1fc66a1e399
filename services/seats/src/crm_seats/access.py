"""The facts seats' policy decides on (`domain/policy.py`), from seats' copy of the account: its
owner, and each member's status and whether they administer it, as identity published them."""

from __future__ import annotations

from crm_contracts.permissions import Facts, standing_facts

from . import repository


async def facts(conn, account_id: str | None, user_id: str | None, *, operator: bool = False,
                about_user_id: str | None = None) -> Facts:
    standing = (await repository.ledger.account_standing(conn, account_id, user_id)
                if account_id and user_id and not operator else None)
    return standing_facts(user_id, standing, operator=operator, about_user_id=about_user_id)
