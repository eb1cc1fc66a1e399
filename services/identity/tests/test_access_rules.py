"""Identity's HTTP access rules, without a stack."""

from __future__ import annotations

from crm_contracts.identity import Package
from crm_runtime.auth import Caller

from crm_identity.web.access import may_manage_instance, may_read_roster
from crm_identity.domain.instances import new_instance

OPERATOR = Caller("ops", frozenset({"crm.operator"}))


def test_only_a_private_instances_owner_and_its_admins_manage_it():
    team = new_instance("acc", "ann", Package.CRM_IDX_TEAM, "Team")
    assert may_manage_instance(Caller("ann"), team, "owner").allowed
    assert may_manage_instance(Caller("cy"), team, "admin").allowed
    for role in ("agent", "lead_manager", None):
        assert may_manage_instance(Caller("bob"), team, role).reason == "not_instance_owner"
    assert not may_manage_instance(OPERATOR, team, None).allowed  # operators read, they do not act
    assert not may_manage_instance(Caller("ann"), None, None).allowed  # unknown says no more than "no"


def test_the_enterprise_instances_keys_are_the_account_admins():
    from dataclasses import replace
    enterprise = replace(new_instance("acc", "olive", Package.CRM_IDX_TEAM, "Acc"), kind="enterprise")
    assert may_manage_instance(Caller("ada"), enterprise, "agent", administers_account=True).allowed
    assert may_manage_instance(Caller("abe"), enterprise, "agent").reason == "not_account_admin"
    assert not may_manage_instance(OPERATOR, enterprise, None, administers_account=True).allowed


def test_the_roster_is_for_members_and_the_accounts_admins():
    team = new_instance("acc", "ann", Package.CRM_IDX_TEAM, "Team")
    assert may_read_roster(Caller("bob"), team, member=True, administers_account=False).allowed
    assert may_read_roster(Caller("olive"), team, member=False, administers_account=True).allowed
    refused = may_read_roster(Caller("eve"), team, member=False, administers_account=False)
    assert (refused.allowed, refused.reason) == (False, "not_instance_member")
    assert may_read_roster(OPERATOR, None, member=False, administers_account=False).allowed
