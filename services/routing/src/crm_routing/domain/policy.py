"""Who may do what in routing: every HTTP route and every command routing consumes, each with the
permission it needs (`crm_contracts.permissions`, rendered in docs/permissions.md). Pure; the
web side and the handlers gather the facts (`crm_routing.access`) and ask `decide`."""

from __future__ import annotations

from crm_contracts.permissions import Action, Decision, Facts, Permission as P, decide

SERVICE = "routing"

_MEMBERS_READ = "members read their instance; on the Enterprise instance its admins too"
_ORG = ('the seed: a private team\'s owner has "full control of the lead organization"; on the Enterprise '
        "instance its admins; in a team, admins and lead managers")

ROUTES: dict[str, Action] = {a.name: a for a in (
    Action("GET /v1/leads/{lead_id}", P.INSTANCE_MEMBER, False,
           "our choice: the lead's instance's members, with the history of that instance only"),
    Action("GET /v1/instances/{instance_id}/leads", P.INSTANCE_MEMBER, False, _MEMBERS_READ),
    Action("GET /v1/instances/{instance_id}/pipeline", P.INSTANCE_MEMBER, False, _MEMBERS_READ),
    Action("GET /v1/instances/{instance_id}/sources", P.INSTANCE_MEMBER, False, _MEMBERS_READ),
    Action("GET /v1/instances/{instance_id}/segments", P.INSTANCE_MEMBER, False, _MEMBERS_READ),
    Action("GET /v1/instances/{instance_id}/segments/{segment_id}/leads", P.INSTANCE_MEMBER, False, _MEMBERS_READ),
    Action("GET /v1/instances/{instance_id}/business-hours", P.INSTANCE_MEMBER, False, _MEMBERS_READ),
    Action("GET /v1/instances/{instance_id}/rules", P.INSTANCE_MEMBER, False, _MEMBERS_READ),
    Action("GET /v1/instances/{instance_id}/rules/versions", P.INSTANCE_MEMBER, False, _MEMBERS_READ),
    Action("POST /v1/instances/{instance_id}/rules/dry-run", P.INSTANCE_MEMBER, False,
           "our choice: changes nothing, so members may ask what a lead would get"),
    Action("GET /v1/open/leads", P.API_KEY, False,
           'the seed: "Different instances have their own API key"'),
    Action("POST /v1/open/leads", P.API_KEY, True, 'the seed: the key "allows … to get/create/update data"'),
    Action("GET /v1/open/leads/{lead_id}", P.API_KEY, False, "a key reaches only its own instance's leads"),
    Action("PATCH /v1/open/leads/{lead_id}", P.API_KEY, True, "a key reaches only its own instance's leads"),
)}

COMMANDS: dict[str, Action] = {a.name: a for a in (
    Action("leads.lead.captured", P.SYSTEM, True, "captured by the platform's channels; the lead is routed "
           "only into an instance of the message's account", system="the capture channels"),
    Action("routing.rules.set", P.ROUTING_RULES, True, _ORG),
    Action("routing.rules.rollback", P.ROUTING_RULES, True, _ORG),
    Action("routing.business_hours.set", P.ROUTING_RULES, True, _ORG),
    Action("routing.agent.pause", P.AGENT_PAUSE, True, "organisers pause anyone; a member pauses themselves"),
    Action("routing.agent.resume", P.AGENT_PAUSE, True, "organisers resume anyone; a member resumes themselves"),
    Action("routing.lead.claim", P.INSTANCE_MEMBER, True,
           "a member claims a lead offered or assigned to them, or one in the pond (the handler checks which)"),
    Action("routing.lead.transfer", P.LEAD_TRANSFER, True,
           'the seed: "any leads that are in your primary account will not transfer to your private instance '
           'team"; its FAQ\'s "manual transfer" is the holder\'s or an organiser\'s'),
    Action("routing.lead.assign", P.LEAD_ORGANISATION, True, _ORG),
    Action("routing.zillow_target.set", P.YOURSELF, True, "a member chooses their own Zillow instance", about_others=False),
    Action("routing.pipeline.set", P.LEAD_ORGANISATION, True, _ORG),
    Action("routing.sources.set", P.LEAD_ORGANISATION, True, _ORG),
    Action("routing.segment.set", P.LEAD_ORGANISATION, True, _ORG),
    Action("routing.segment.remove", P.LEAD_ORGANISATION, True, _ORG),
    Action("routing.lead.move_stage", P.LEAD_WORK, True, "organisers, the lead's holder, the instance's key",
           api_key=True),
    Action("routing.lead.tag", P.LEAD_WORK, True, "organisers, the lead's holder, the instance's key", api_key=True),
    Action("routing.lead.update", P.LEAD_WORK, True, "organisers, the lead's holder, the instance's key",
           api_key=True),
    Action("routing.api_key.record_use", P.SYSTEM, True, system="routing's Open API"),
    Action("routing.lead.claim_expired", P.SYSTEM, True, system="routing's claim timers"),
)}


def route(name: str, facts: Facts) -> Decision:
    return decide(ROUTES[name], facts)


def command(type_: str, facts: Facts) -> Decision:
    return decide(COMMANDS[type_], facts)
