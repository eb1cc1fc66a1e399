"""Identity's HTTP access rules, without a stack."""

from __future__ import annotations

from crm_contracts.identity import Package
from crm_runtime.auth import Caller

from crm_identity.web.access import may_manage_instance, may_read_roster
from crm_identity.domain.instances import new_instance

OPERATOR = Caller("ops", frozenset({"crm.operator"}))


def test_only_a_private_instances_owner_manages_it():
    team = new_instance("acc", "ann", Package.CRM_IDX_TEAM, "Team")
    assert may_manage_instance(Caller("ann"), team).allowed
    assert may_manage_instance(Caller("bob"), team).reason == "not_instance_owner"
    assert not may_manage_instance(OPERATOR, team).allowed  # operators read, they do not act
    assert not may_manage_instance(Caller("ann"), None).allowed  # unknown says no more than "no"


def test_the_roster_is_for_members_and_the_accounts_admins():
    team = new_instance("acc", "ann", Package.CRM_IDX_TEAM, "Team")
    assert may_read_roster(Caller("bob"), team, member=True, administers_account=False).allowed
    assert may_read_roster(Caller("olive"), team, member=False, administers_account=True).allowed
    refused = may_read_roster(Caller("eve"), team, member=False, administers_account=False)
    assert (refused.allowed, refused.reason) == (False, "not_instance_member")
    assert may_read_roster(OPERATOR, None, member=False, administers_account=False).allowed
