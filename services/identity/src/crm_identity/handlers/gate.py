"""Every identity command asks `domain/policy.py` here, with the facts about who acts (`by_user_id`,
or the person a self-service command names) and the instance it is about."""

from __future__ import annotations

from crm_contracts.permissions import Facts
from crm_runtime.handlers import HandlerContext, Rejected

from .. import access
from ..domain import policy
from ..domain.instances import Instance


async def permitted(ctx: HandlerContext, actor: str | None, *, instance: Instance | None = None,
                    about_user_id: str | None = None) -> None:
    facts = await access.facts(ctx.conn, ctx.message.accountid, actor, instance=instance,
                               about_user_id=about_user_id)
    if not (decision := policy.command(ctx.message.type, facts)):
        raise Rejected(decision.reason, decision.message)


def system(ctx: HandlerContext) -> None:
    """A command the platform sends on its own (sign-up, support, the onboarding page)."""
    if not (decision := policy.command(ctx.message.type, Facts(system=True))):
        raise Rejected(decision.reason, decision.message)
