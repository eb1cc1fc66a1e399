"""Who may read or manage what over identity's HTTP side; the web layer asks these rules only.

Account-wide reading (an account and its members) follows `may_administer_account`; the rest is
about instances: a user reads their own list, an instance's members read its roster, and only a
private instance's owner and its admin members manage its keys and members.
"""

from __future__ import annotations

from crm_runtime.auth import ALLOW, Caller, Decision, deny

from ..domain.instances import INSTANCE_ADMIN_ROLE, Instance


def may_read_roster(caller: Caller, instance: Instance | None, *, member: bool, administers_account: bool) -> Decision:
    if caller.operator or (instance is not None and (member or administers_account)):
        return ALLOW
    return deny("not_instance_member", "only the instance's members and its account's admins read its roster")


def may_manage_instance(caller: Caller, instance: Instance | None, role: str | None,
                        administers_account: bool = False) -> Decision:
    """Issue, list and revoke API keys: a private instance's owner and its `admin` members (`role`
    is the caller's in the instance); the Enterprise instance's, the account's owner and active
    admins. Operators read accounts but never act for an owner."""
    if caller.operator or instance is None:
        return deny("not_instance_owner", "only the instance's owner and its admins manage it")
    if instance.kind == "enterprise":
        return ALLOW if administers_account else deny(
            "not_account_admin", "only the account's owner and its active admins manage the Enterprise instance's keys")
    if caller.user_id == instance.owner_user_id or role == INSTANCE_ADMIN_ROLE:
        return ALLOW
    return deny("not_instance_owner", "only the private instance's owner and its admins manage it")


def may_list_candidates(caller: Caller, instance: Instance | None, role: str | None) -> Decision:
    """See whom a private instance could invite: its owner, its `admin` members, operators."""
    if caller.operator or (instance is not None and instance.kind == "private" and (
            caller.user_id == instance.owner_user_id or role == INSTANCE_ADMIN_ROLE)):
        return ALLOW
    return deny("not_instance_owner", "only the private instance's owner and its admins see whom it may invite")
