"""Every seats command asks `domain/policy.py` here: a person acts about themselves (buyer, or the
user a setting is for); billing's commands come from the platform."""

from __future__ import annotations

from crm_contracts.permissions import Facts
from crm_runtime.handlers import HandlerContext, Rejected

from .. import access
from ..domain import policy


async def permitted(ctx: HandlerContext, actor: str) -> None:
    """Go on when the policy lets `actor` do this command about themselves."""
    await permitted_about(ctx, actor, actor)


async def permitted_about(ctx: HandlerContext, actor: str, about: str | None) -> None:
    """Go on when the policy lets `actor` do this command about the person `about` (None: nobody
    known, so only what they may do about anyone)."""
    facts = await access.facts(ctx.conn, ctx.message.accountid, actor, about_user_id=about)
    if not (decision := policy.command(ctx.message.type, facts)):
        raise Rejected(decision.reason, decision.message)


def system(ctx: HandlerContext) -> None:
    if not (decision := policy.command(ctx.message.type, Facts(system=True))):
        raise Rejected(decision.reason, decision.message)
