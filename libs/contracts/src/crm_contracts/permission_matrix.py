"""The written permission model as a matrix: one person of each kind (the columns) against every
route and command, for `docs/permissions.md` and the tests that send each cell to the live stack."""

from __future__ import annotations

from dataclasses import replace

from .permissions import Action, Decision, Facts, Permission, decide

COLUMNS: dict[str, str] = {
    "operator": "an operator (support staff, the platform's tools; `crm.operator` scope)",
    "service": "a platform service, by its Kafka principal, naming no person",
    "key": "an Open API key of the instance",
    "outsider": "an active person of another account",
    "acct_owner": "the account's owner",
    "acct_admin": "an active account admin",
    "agent": "an active agent of the account (the Enterprise lead's holder)",
    "display_only": "a display-only member",
    "pending": "a member pending opt-in, a seat or activation",
    "deactivated": "a deactivated member",
    "p_owner": "the private instance's owner",
    "p_admin": "a private instance `admin`",
    "p_lead_manager": "a private instance `lead_manager`",
    "p_agent": "a private instance `agent` (the private lead's holder)",
}

# Permissions decided on an instance: each is shown for the Enterprise instance (E) and a private one (P).
INSTANCE_SCOPED = frozenset({Permission.INSTANCE_MEMBER, Permission.INSTANCE_ADMIN, Permission.INSTANCE_OWNER,
                             Permission.LEAD_ORGANISATION, Permission.ROUTING_RULES, Permission.LEAD_WORK,
                             Permission.LEAD_TRANSFER, Permission.AGENT_PAUSE, Permission.API_KEY})
# Permissions about a person: shown about themselves and about someone else.
PERSONAL = frozenset({Permission.YOURSELF, Permission.YOURSELF_OR_ADMIN})


def scenarios(action: Action) -> list[tuple[str, str | None, bool]]:
    """The rows the written model shows for an action: (label, target, about themselves)."""
    p = action.permission
    if p is Permission.LEAD_TRANSFER:
        return [("E → P", "E→P", False), ("P → E", "P→E", False)]
    if action.private_only:
        return [("on P", "P", False)]
    if p in INSTANCE_SCOPED:
        return [("on E", "E", False), ("on P", "P", False)]
    if p in PERSONAL:
        rows: list[tuple[str, str | None, bool]] = [("about themselves", None, True)]
        return rows + ([("about another", None, False)] if action.about_others else [])
    return [("", None, False)]


def cell(action: Action, column: str, target: str | None, yourself: bool) -> Decision:
    """The model's answer for the column's person in that row."""
    facts = column_facts(column, target, yourself=yourself)
    if action.cross_account and column == "outsider":  # they are active in their own account
        facts = Facts(user_id=column, status="active", yourself=yourself)
    return decide(action, facts)


def column_facts(column: str, target: str | None, *, yourself: bool = False) -> Facts:
    """The facts of the column's person about an action on `target` (None: the account) of an
    account whose Enterprise instance E has every active person and whose private instance P is
    owned by `p_owner`. The Enterprise lead is `agent`'s, the private lead `p_agent`'s."""
    if target in ("E→P", "P→E"):  # a transfer: the source's facts, and their place in the target
        source, goal = target.split("→")
        there = column_facts(column, goal)
        return replace(column_facts(column, source, yourself=yourself), target_kind=there.instance_kind,
                       target_role=there.instance_role or ("owner" if there.instance_owner else None))
    kind = {"E": "enterprise", "P": "private", None: None}[target]
    base = Facts(user_id=column, instance_kind=kind, yourself=yourself)
    if column == "operator":
        return Facts(user_id=column, operator=True, instance_kind=kind)
    if column == "service":
        return Facts(system=True, instance_kind=kind)
    if column == "key":
        return Facts(api_key=True, instance_kind=kind)
    if column == "outsider":
        return base
    status = {"display_only": "display_only", "pending": "pending_opt_in", "deactivated": "inactive"}.get(
        column, "active")
    owner, admin = column == "acct_owner", column == "acct_admin"
    role: str | None = None
    if target == "E" and status == "active":
        role = "owner" if owner else "agent"
    elif target == "P":
        role = {"p_owner": "owner", "p_admin": "admin", "p_lead_manager": "lead_manager",
                "p_agent": "agent"}.get(column)
    return Facts(user_id=column, status=status, account_owner=owner, administers=admin, instance_kind=kind,
                 instance_owner=(target == "P" and column == "p_owner") or (target == "E" and owner),
                 instance_role=role, yourself=yourself,
                 lead_holder=(target == "E" and column == "agent") or (target == "P" and column == "p_agent"))
