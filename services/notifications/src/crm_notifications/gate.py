"""Every notifications command asks `domain/policy.py` here, with the facts about who acts: an
account admin for the account's templates, a person for their own notifications, the platform's
sign-in for sessions."""

from __future__ import annotations

from crm_contracts.permissions import Facts
from crm_runtime.handlers import HandlerContext, Rejected

from . import access
from .domain import policy


async def permitted(ctx: HandlerContext, actor: str | None, *, about_user_id: str | None = None) -> None:
    facts = (Facts(system=True) if actor is None else
             await access.facts(ctx.conn, ctx.message.accountid, actor, about_user_id=about_user_id))
    if not (decision := policy.command(ctx.message.type, facts)):
        raise Rejected(decision.reason, decision.message)
