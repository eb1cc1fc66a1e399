"""The written permission model (docs/permissions.md) walked on the live stack: one account with a
person of every kind the model names, every HTTP route of the four services asked as each of them,
and every command refused where the model refuses it, with the model's reason.

The expectation of each cell is the model's (`crm_contracts.permissions.cell`), which is also what
the document shows; what is tested is that the services gather the right facts about real people
(their status as identity published it, their roles, the lead they hold) and ask the model at
every route and handler. The model's own answers are tested with literal cells in
libs/contracts/tests/test_permission_model.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from crm_contracts import identity, notifications, organisation, routing, seats
from crm_contracts.calls import SetCallSettings
from crm_contracts.permission_matrix import COLUMNS, cell, scenarios
from crm_devstack import permissions_doc
from crm_identity.domain.accounts import enterprise_instance_id
from conftest import Platform
from routing_steps import capture, outcome, set_rules

pytestmark = pytest.mark.stack

PERSON_COLUMNS = [c for c in COLUMNS if c not in ("operator", "service", "key")]


@dataclass
class World:
    acc: str
    people: dict[str, str]  # column → user id
    other: str  # an active agent nobody's column is: "another" person
    E: str
    P: str
    leads: dict[str, str] = field(default_factory=dict)  # E/P → the lead held by agent / p_agent
    keys: dict[str, str] = field(default_factory=dict)  # E/P → an API key of the instance


@pytest.fixture(scope="module")
async def world(stack, bus) -> World:
    platform = Platform(stack, bus)
    acc, elsewhere = f"acc_pm_{uuid.uuid4().hex[:10]}", f"acc_pm_{uuid.uuid4().hex[:10]}"
    people = {c: f"{c}_{acc[-6:]}" for c in PERSON_COLUMNS}
    people["acct_owner"], people["outsider"] = f"{acc}_owner", f"{elsewhere}_owner"
    await platform.enterprise(acc, seats_total=12)
    await platform.enterprise(elsewhere, seats_total=1)
    other = f"ann_{acc[-6:]}"
    for column in ("acct_admin", "agent", "deactivated", "p_owner", "p_admin", "p_lead_manager", "p_agent"):
        await platform.active(acc, people[column], role="admin" if column == "acct_admin" else "agent")
    await platform.active(acc, other)
    await platform.answer(await platform.add(acc, people["display_only"], activation=None, user_type="display_only"),
                          "identity.member.added")
    await platform.answer(await platform.add(acc, people["pending"], activation="opt_in"), "identity.invitation.issued")
    P = (await platform.bought(acc, people["p_owner"])).data["instance_id"]
    for column, role in (("p_admin", "admin"), ("p_lead_manager", "lead_manager"), ("p_agent", "agent")):
        await platform.join(acc, P, people[column], by=people["p_owner"], role=role)
    await platform.answer(await platform.send(acc, identity.DeactivateMember(
        user_id=people["deactivated"], by_user_id=people["acct_owner"])), "identity.member.status_changed")
    w = World(acc=acc, people=people, other=other, E=enterprise_instance_id(acc), P=P)
    for target, holder, by in (("E", "agent", "acct_owner"), ("P", "p_agent", "p_owner")):
        ins = getattr(w, target)
        await set_rules(platform, acc, ins, [{"id": "h", "steps": [{"strategy": "specific_agent",
                                                                      "agent": people[holder]}]}], by=people[by])
        await platform.answer(await platform.send(acc, organisation.SetSegment(
            instance_id=ins, segment_id="all", name="All", filter={}, by_user_id=people[by])), "routing.segment.changed")
    await platform.stack.settled()
    for target, holder in (("E", "agent"), ("P", "p_agent")):
        lid, _ = await capture(platform, acc, channel="manual", instance_id=getattr(w, target))
        assert (await outcome(platform, lid)).data["user_id"] == people[holder]
        w.leads[target] = lid
    async with httpx.AsyncClient(timeout=10) as client:
        for target, by in (("E", "acct_owner"), ("P", "p_owner")):
            r = await client.post(f"{platform.stack.http('identity')}/v1/instances/{getattr(w, target)}/api-keys",
                                  json={"name": "matrix"}, headers=platform.stack.auth.as_user(people[by]))
            assert r.status_code == 201, r.text
            w.keys[target] = r.json()["key"]
    await platform.stack.settled()
    return w


def _request(w: World, route: str, target: str | None, yourself: bool) -> tuple[str, str, dict, dict | None]:
    """Method, path, query and body for asking `route` about `target` (E or P; P when the route names
    an instance but the row is account-wide) — about the caller, or about another person."""
    method, path = route.split(" ", 1)
    path, _, variant = path.partition("?")
    ins = getattr(w, target or "P")
    path = (path.replace("{instance_id}", ins).replace("{lead_id}", w.leads[target or "P"])
            .replace("{segment_id}", "all").replace("{key_id}", "key_missing").replace("{kind}", "opt_in_invitation")
            .replace("{notification_id}", "ntf_missing").replace("{account_id}", w.acc))
    query: dict[str, str] = {}
    if path in ("/v1/accounts", "/v1/seats", "/v1/seats/dormant", "/v1/prices", "/v1/invoices", "/v1/templates") \
            or path.startswith("/v1/templates/"):
        query["account_id"] = w.acc
    if path == "/v1/quotes":
        query.update(account_id=w.acc, item="addon:ai_assistant" if variant else "seat")
    if path in ("/v1/entitlements", "/v1/call-settings", "/v1/notifications/read-all"):
        query["instance_id"] = w.P
    if not yourself and path in ("/v1/instances", "/v1/entitlements", "/v1/call-settings", "/v1/notifications"):
        query["user_id"] = w.other
    body = None
    if method in ("POST", "PATCH"):
        body = {"/v1/open/leads": {"first_name": "Matrix"}}.get(path, {"name": "matrix", "add_tags": ["matrix"],
                                                                       "lead": {"first_name": "Dry"}})
    return method, path, query, body


def _headers(platform, w: World, column: str, target: str | None) -> dict[str, str]:
    if column == "operator":
        return platform.stack.auth.as_operator()
    if column == "key":
        return {"Authorization": f"Bearer {w.keys[target or 'P']}"}
    return platform.stack.auth.as_user(w.people[column])


SERVICE_OF = {policy.SERVICE: policy for policy in permissions_doc.POLICIES}
ROUTE_ROWS = [(policy.SERVICE, name, label, target, yourself)
              for policy in permissions_doc.POLICIES for name, action in policy.ROUTES.items()
              for label, target, yourself in scenarios(action)]


@pytest.mark.parametrize(("service", "route", "label", "target", "yourself"), ROUTE_ROWS,
                         ids=[f"{r[1]} {r[2]}".strip() for r in ROUTE_ROWS])
async def test_every_route_answers_each_person_as_the_model_says(platform, world, service, route, label, target,
                                                                 yourself):
    action = SERVICE_OF[service].ROUTES[route]
    method, path, query, body = _request(world, route, target, yourself)
    wrong = []
    async with httpx.AsyncClient(timeout=10) as client:
        for column in permissions_doc.HTTP_COLUMNS:
            want = cell(action, column, target, yourself)
            r = await client.request(method, platform.stack.http(service) + path, params=query, json=body,
                                     headers=_headers(platform, world, column, target))
            if action.permission.value == "public":
                # The page answers everyone; what it says (a missing token, a confirmation asked from
                # its own form only) is the invitation's business, not a permission.
                ok = r.status_code < 500
            elif want.allowed:
                # Allowed: answered, not refused (made-up ids and a missing invitation token are 404s).
                ok = r.status_code < 300 or (r.status_code == 404 and ("missing" in path or "invitations" in path))
            elif want.status == 401:  # a key where a person is needed, or a person where a key is
                ok = r.status_code == 401
            else:
                ok = r.status_code == want.status and r.json().get("error") == want.reason
            if not ok:
                wrong.append((column, "allowed" if want.allowed else want.reason, r.status_code, r.text[:160]))
            if not want.allowed and r.status_code in (403, 410):
                assert "@" not in r.text, (column, r.text)  # a refusal carries no one's data
    assert not wrong, wrong


def _command(type_: str, w: World, actor: str | None, target: str | None):
    """A valid command of `type_` sent by `actor` (None: naming no person) about `target`."""
    p, ins = w.people, getattr(w, target or "P") if target in ("E", "P", None) else None
    lead = w.leads.get(target or "P")
    if target in ("E→P", "P→E"):
        source, goal = target.split("→")
        return routing.TransferLead(lead_id=w.leads[source], to_instance_id=getattr(w, goal), by_user_id=actor)
    new = f"new_{uuid.uuid4().hex[:8]}"
    row = {"user_id": new, "email": f"{new}@example.com", "first_name": "N", "last_name": "M",
           "user_type": "platform", "activation": "immediate", "role": "agent"}
    holder = p["agent"] if target == "E" else p["p_agent"]
    return {
        "identity.member.add": lambda: identity.AddMember(**row, by_user_id=actor),
        "identity.member.import": lambda: identity.ImportMembers(rows=[row], by_user_id=actor),
        "identity.member.convert": lambda: identity.ConvertMember(user_id=p["display_only"], activation="immediate",
                                                                  by_user_id=actor),
        "identity.member.deactivate": lambda: identity.DeactivateMember(user_id=w.other, by_user_id=actor),
        "identity.member.reactivate": lambda: identity.ReactivateMember(user_id=p["deactivated"], by_user_id=actor),
        "identity.invitation.resend": lambda: identity.ResendInvitation(user_id=p["pending"], by_user_id=actor),
        "identity.instance.purchase": lambda: identity.PurchaseInstance(buyer_user_id=actor, package="crm_only",
                                                                        name="Mine"),
        "identity.instance.rename": lambda: identity.RenameInstance(instance_id=ins, name="Renamed", by_user_id=actor),
        "identity.instance.invite": lambda: identity.InviteToInstance(instance_id=ins, user_id=w.other, role="agent",
                                                                      by_user_id=actor),
        "identity.instance.remove_member": lambda: identity.RemoveInstanceMember(instance_id=ins, user_id=holder,
                                                                                 by_user_id=actor),
        "identity.instance.set_role": lambda: identity.SetInstanceRole(instance_id=ins, user_id=holder, role="agent",
                                                                       by_user_id=actor),
        "identity.instance.transfer_ownership": lambda: identity.TransferInstanceOwnership(
            instance_id=ins, to_user_id=p["p_admin"], by_user_id=actor),
        "identity.instance.cancel": lambda: identity.CancelInstance(instance_id=ins, by_user_id=actor),
        "identity.instance.join": lambda: identity.JoinInstance(instance_id=ins, user_id=actor),
        "identity.api_key.issue": lambda: identity.IssueApiKey(instance_id=ins, name="m", by_user_id=actor),
        "identity.api_key.revoke": lambda: identity.RevokeApiKey(instance_id=ins, key_id="key_missing",
                                                                 by_user_id=actor),
        "seats.addon.purchase": lambda: seats.PurchaseAddon(instance_id=ins, addon="ai_assistant", buyer_user_id=actor),
        "seats.addon.cancel": lambda: seats.CancelAddon(instance_id=ins, addon="ai_assistant", by_user_id=actor),
        "seats.calling_package.purchase": lambda: seats.PurchaseCallingPackage(
            instance_id=ins, package_id="calling_basic", buyer_user_id=actor, assigned_user_id=actor),
        "seats.integration.connect": lambda: seats.ConnectIntegration(user_id=actor, integration="gmail"),
        "seats.integration.disconnect": lambda: seats.DisconnectIntegration(user_id=actor, integration="gmail"),
        "seats.call_settings.set": lambda: SetCallSettings(instance_id=ins, user_id=actor, settings={}),
        "notifications.template.set": lambda: notifications.SetTemplate(
            template="opt_in_invitation", subject="Hi", body="Join: {accept_url}", by_user_id=actor),
        "notifications.template.reset": lambda: notifications.ResetTemplate(template="opt_in_invitation",
                                                                            by_user_id=actor),
        "notifications.notification.read": lambda: notifications.ReadNotifications(user_id=actor, instance_id=ins),
        "routing.rules.set": lambda: routing.SetRules(instance_id=ins, rules=[], version=999, by_user_id=actor),
        "routing.rules.rollback": lambda: routing.RollbackRules(instance_id=ins, version=1, by_user_id=actor),
        "routing.business_hours.set": lambda: routing.SetBusinessHours(instance_id=ins, time_zone="UTC", week={},
                                                                       by_user_id=actor),
        "routing.agent.pause": lambda: routing.PauseAgent(instance_id=ins, user_id=w.other, by_user_id=actor),
        "routing.agent.resume": lambda: routing.ResumeAgent(instance_id=ins, user_id=w.other, by_user_id=actor),
        "routing.lead.claim": lambda: routing.ClaimLead(lead_id=lead, user_id=actor),
        "routing.lead.assign": lambda: organisation.AssignLead(lead_id=lead, to_user_id=holder, by_user_id=actor),
        "routing.zillow_target.set": lambda: routing.SetZillowTarget(user_id=actor, instance_id=ins),
        "routing.pipeline.set": lambda: organisation.SetPipeline(
            instance_id=ins, stages=[{"stage_id": "new", "name": "New"}], by_user_id=actor),
        "routing.sources.set": lambda: organisation.SetSources(instance_id=ins, sources=["web"], by_user_id=actor),
        "routing.segment.set": lambda: organisation.SetSegment(instance_id=ins, segment_id="x", name="X", filter={},
                                                               by_user_id=actor),
        "routing.segment.remove": lambda: organisation.RemoveSegment(instance_id=ins, segment_id="x",
                                                                     by_user_id=actor),
        "routing.lead.move_stage": lambda: organisation.MoveLeadStage(lead_id=lead, stage_id="new", by_user_id=actor),
        "routing.lead.tag": lambda: organisation.TagLead(lead_id=lead, add=["m"], by_user_id=actor),
        "routing.lead.update": lambda: organisation.UpdateLead(lead_id=lead, contact={"phone": "+15550100"},
                                                               by_user_id=actor),
    }[type_]()


# Commands a person sends: each refused cell of the model is sent and must come back refused with
# the model's reason. Allowed cells change the world; the feature suites send those.
COMMAND_ROWS = [(policy.SERVICE, type_, label, target)
                for policy in permissions_doc.POLICIES for type_, action in policy.COMMANDS.items()
                if action.permission.value not in ("system", "public")
                for label, target, _ in scenarios(action)]


@pytest.mark.parametrize(("service", "type_", "label", "target"), COMMAND_ROWS,
                         ids=[f"{r[1]} {r[2]}".strip() for r in COMMAND_ROWS])
async def test_every_command_is_refused_where_the_model_refuses_it_with_its_reason(platform, world, service, type_,
                                                                                  label, target):
    action = SERVICE_OF[service].COMMANDS[type_]
    yourself = label == "about themselves"
    expected = {}
    for column in ["service", *PERSON_COLUMNS]:
        want = cell(action, column, target, yourself)
        if want.allowed:
            continue
        actor = None if column == "service" else world.people[column]
        try:
            data = _command(type_, world, actor, target)
        except (TypeError, ValueError):  # the contract itself requires the actor: nothing to send
            assert column == "service"
            continue
        expected[column] = (await platform.send(world.acc, data), want.reason)
    wrong = []
    for column, (cmd, reason) in expected.items():
        answer = await platform.answer(cmd, f"{service}.command.rejected")
        if answer.data["reason"] != reason:
            wrong.append((column, reason, answer.data["reason"], answer.data["message"][:120]))
    assert not wrong, wrong
