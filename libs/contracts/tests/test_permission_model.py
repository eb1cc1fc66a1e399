"""The permission model's rules, cell by cell where the issue found them wrong; each expected
answer is written here, not computed from the model."""

from __future__ import annotations

import pytest

from crm_contracts.permission_matrix import column_facts
from crm_contracts.permissions import Action, Facts, Permission as P, decide

READ_LEADS = Action("GET /v1/instances/{instance_id}/leads", P.INSTANCE_MEMBER, False)
MANAGE = Action("identity.instance.rename", P.INSTANCE_ADMIN, True)
OWN = Action("identity.instance.cancel", P.INSTANCE_OWNER, True)
TRANSFER = Action("routing.lead.transfer", P.LEAD_TRANSFER, True)
ADD = Action("identity.member.add", P.ACCOUNT_ADMIN, True)
CAPTURE = Action("leads.lead.captured", P.SYSTEM, True, system="the capture channels")
MOVE = Action("routing.lead.move_stage", P.LEAD_WORK, True, api_key=True)


def reason(action: Action, facts: Facts) -> str:
    return decide(action, facts).reason or "allowed"


@pytest.mark.parametrize(("status", "want"), [
    ("active", "allowed"), ("inactive", "member_inactive"), ("display_only", "display_only_member"),
    ("pending_opt_in", "member_pending"), ("pending_seat", "member_pending"),
    ("pending_activation", "member_pending"), (None, "not_in_account")])
def test_only_people_who_can_sign_in_read_an_instance_they_belong_to(status, want):
    member = Facts(user_id="u", status=status, instance_kind="enterprise", instance_role="agent")
    assert reason(READ_LEADS, member) == want


def test_an_account_admin_manages_a_private_instance_only_once_it_is_frozen():
    admin = Facts(user_id="ada", status="active", administers=True, instance_kind="private")
    assert reason(OWN, admin) == "not_instance_owner"
    assert reason(OWN, Facts(**{**admin.__dict__, "instance_state": "frozen"})) == "allowed"
    assert reason(MANAGE, admin) == "not_instance_owner"  # a member's team is theirs to run
    owner = Facts(user_id="o", status="active", instance_kind="private", instance_owner=True, instance_role="owner")
    assert reason(OWN, owner) == "allowed"


def test_a_deactivated_owner_runs_nothing_and_a_cancelled_instance_takes_no_change():
    owner = Facts(user_id="o", status="inactive", instance_kind="private", instance_owner=True,
                  instance_role="owner", instance_state="frozen")
    assert reason(MANAGE, owner) == "member_inactive"
    cancelled = Facts(user_id="o", status="active", instance_kind="private", instance_owner=True,
                      instance_role="owner", instance_state="cancelled")
    assert reason(MANAGE, cancelled) == "instance_cancelled"
    assert reason(READ_LEADS, cancelled) == "allowed"
    closed = decide(READ_LEADS, Facts(**{**cancelled.__dict__, "instance_state": "closed"}))
    assert (closed.reason, closed.status) == ("instance_closed", 410)


def test_a_transfer_takes_the_holder_or_an_organiser_and_enterprise_leads_stay_unless_its_admins_move_them():
    def agent(**kw) -> Facts:
        return Facts(**{"user_id": "a", "status": "active", "instance_kind": "enterprise", "instance_role": "agent",
                        "target_kind": "private", "target_role": "owner", **kw})
    assert reason(TRANSFER, agent()) == "not_permitted"  # not their lead
    assert reason(TRANSFER, agent(lead_holder=True)) == "not_permitted"  # theirs, but the brokerage's
    assert reason(TRANSFER, agent(lead_holder=True, target_kind="enterprise")) == "allowed"
    assert reason(TRANSFER, agent(administers=True)) == "allowed"
    assert reason(TRANSFER, agent(administers=True, target_role=None)) == "not_permitted"
    team = agent(instance_kind="private", target_kind="enterprise")
    assert reason(TRANSFER, team) == "not_permitted"
    assert reason(TRANSFER, agent(instance_kind="private", instance_role="lead_manager",
                                  target_kind="enterprise")) == "allowed"


def test_commands_name_their_actor_unless_a_platform_service_sends_them():
    assert reason(ADD, Facts()) == "actor_required"
    assert reason(ADD, Facts(system=True)) == "actor_required"
    assert reason(CAPTURE, Facts(system=True)) == "allowed"
    assert reason(CAPTURE, Facts(user_id="u", status="active")) == "system_only"
    assert reason(ADD, Facts(user_id="u", status="active")) == "not_account_admin"
    assert reason(ADD, Facts(user_id="u", status="active", administers=True)) == "allowed"


def test_operators_read_and_keys_reach_only_the_open_api():
    assert reason(READ_LEADS, Facts(operator=True)) == "allowed"
    assert reason(MANAGE, Facts(operator=True)) == "operator_read_only"
    assert decide(READ_LEADS, Facts(api_key=True)).status == 401
    assert reason(MOVE, Facts(api_key=True, instance_kind="private")) == "allowed"
    assert reason(MOVE, Facts(api_key=True, instance_kind="private", instance_state="cancelled")) == \
        "instance_cancelled"


def test_the_columns_people_stand_where_the_written_model_says():
    assert reason(READ_LEADS, column_facts("deactivated", "E")) == "member_inactive"
    assert reason(READ_LEADS, column_facts("acct_admin", "P")) == "not_instance_member"
    assert reason(READ_LEADS, column_facts("p_agent", "P")) == "allowed"
    assert reason(MANAGE, column_facts("p_lead_manager", "P")) == "not_instance_owner"
    assert reason(MOVE, column_facts("p_agent", "P")) == "allowed"  # their own lead
    assert reason(MOVE, column_facts("agent", "P")) == "not_permitted"
