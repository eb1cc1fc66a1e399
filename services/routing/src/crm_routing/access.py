"""Who may read an instance's leads: its members (the roster identity publishes), and operators."""

from __future__ import annotations

from crm_runtime.auth import ALLOW, Caller, Decision, deny


def may_read_leads(caller: Caller, *, member: bool) -> Decision:
    if caller.operator or member:
        return ALLOW
    return deny("not_instance_member", "only the instance's members read its leads")
