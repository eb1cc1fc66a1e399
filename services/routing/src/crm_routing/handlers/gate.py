"""Every routing command asks `domain/policy.py` here, with the facts about who acts and what they
act on; nothing a command names may be of another account than the message's (`not_in_account`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from crm_contracts.permissions import Facts
from crm_runtime.handlers import HandlerContext, Rejected

from .. import access, repository
from ..domain import policy
from ..domain.capture import RoutingContext


def _decide(ctx: HandlerContext, facts: Facts) -> None:
    if not (decision := policy.command(ctx.message.type, facts)):
        raise Rejected(decision.reason, decision.message)


async def instance_of(ctx: HandlerContext, instance_id: str) -> Any:
    """The instance a command names, once it is of the message's account."""
    row = await repository.roster.get_instance(ctx.conn, instance_id)
    if row is None:
        raise Rejected("unknown_instance", f"no instance {instance_id}")
    if row["account_id"] != ctx.message.accountid:
        raise Rejected("not_in_account", f"instance {instance_id} is not of account {ctx.message.accountid}")
    return row


def lead_in_account(ctx: HandlerContext, lead: dict[str, Any]) -> None:
    if lead["account_id"] != ctx.message.accountid:
        raise Rejected("not_in_account", f"lead {lead['lead_id']} is not of account {ctx.message.accountid}")


async def permitted(ctx: HandlerContext, instance_id: str, by_user_id: str | None, *,
                    lead: dict[str, Any] | None = None, about_user_id: str | None = None) -> Any:
    """The instance's row once `by_user_id` may send this command about it (about their own lead,
    or about `about_user_id`); else the refusal."""
    instance = await instance_of(ctx, instance_id)
    row = await repository.organisation.actor(ctx.conn, instance_id, by_user_id or "")
    facts = access.facts_of(row, by_user_id, at=ctx.now(), account_id=ctx.message.accountid)
    facts = replace(facts, lead_holder=lead is not None and by_user_id is not None and lead["user_id"] == by_user_id,
                    yourself=about_user_id is not None and about_user_id == by_user_id)
    _decide(ctx, facts)
    return instance


async def key_permitted(ctx: HandlerContext, lead: dict[str, Any], key_id: str) -> None:
    """An Open API key acts on the leads of its own instance while it is not revoked."""
    key = await repository.roster.api_key_by_id(ctx.conn, key_id)
    if key is None or key["revoked"] or key["instance_id"] != lead["instance_id"]:
        raise Rejected("not_permitted", f"API key {key_id} is revoked or not of instance {lead['instance_id']}")
    row = await repository.roster.get_instance(ctx.conn, lead["instance_id"])
    if row is None:  # the lead names an instance routing has no row of: nothing to act on
        raise Rejected("unknown_instance", f"no instance {lead['instance_id']}")
    _decide(ctx, Facts(api_key=True, instance_kind=row["kind"], instance_state=access.instance_state(
        row["read_only_until"], ctx.now())))


async def transfer_permitted(ctx: HandlerContext, lead: dict[str, Any], by_user_id: str,
                             target: RoutingContext) -> None:
    """A transfer: the facts about the source instance and the lead, with the actor's place in the target."""
    row = await repository.organisation.actor(ctx.conn, lead["instance_id"], by_user_id)
    in_target = await repository.organisation.actor(ctx.conn, target.instance_id, by_user_id)
    facts = replace(access.facts_of(row, by_user_id, at=ctx.now(), account_id=ctx.message.accountid),
                    lead_holder=lead["user_id"] == by_user_id, target_kind=target.kind,
                    target_role=in_target["role"] if in_target else None)
    if facts.instance_state == "active" and access.instance_state(target.read_only_until, ctx.now()) != "active":
        raise Rejected("instance_cancelled", f"instance {target.instance_id} was cancelled: it takes no leads")
    _decide(ctx, facts)


def system(ctx: HandlerContext) -> None:
    """A command the platform sends on its own (captures, timers, key use)."""
    _decide(ctx, Facts(system=True))
