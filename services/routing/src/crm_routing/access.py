"""Who may read an instance's leads and their organisation: its members (the roster identity
publishes), the account's admins on its Enterprise instance, and operators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_runtime.auth import ALLOW, Caller, Decision, deny


def may_read_leads(caller: Caller, *, member: bool) -> Decision:
    if caller.operator or member:
        return ALLOW
    return deny("not_instance_member", "only the instance's members read its leads")


def may_read_organisation(caller: Caller, actor: Mapping[str, Any] | None) -> Decision:
    """An instance's pipeline, sources and segments: its members, and on the Enterprise instance
    the account's admins; operators. `actor` is the caller's standing in the instance."""
    if caller.operator or (actor is not None and (
            actor["role"] is not None or (actor["kind"] == "enterprise" and actor["administers"]))):
        return ALLOW
    return deny("not_instance_member", "only the instance's members read its lead organisation")
