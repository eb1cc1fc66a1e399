"""A lead with its routing history in its instance, and an instance's leads, for the members of
the instance the lead is in."""

from __future__ import annotations

from crm_runtime.http import Answer, Request, action_name, allow, caller, get, json_response, service

from .. import access, repository
from ..domain import policy
from .gate import instance_gate


async def lead(request: Request):
    """GET /v1/leads/{lead_id} — the lead, its open timer and every decision with its explanation
    made in the instance it is in now (a transferred lead's earlier instance keeps its own)."""
    lead_id = request.path_params["lead_id"]
    me = caller(request)
    async with service(request).pool.acquire() as conn:
        found = await repository.leads.lead_with_history(conn, lead_id)
        at = service(request).clock(None)
        facts = (await access.lead_facts(conn, found["lead"], me.user_id, at=at, operator=me.operator) if found
                 else access.facts_of(None, me.user_id, at=at, operator=me.operator))
    allow(policy.route(action_name(request), facts))
    if found is None:
        raise Answer(404, "not_found", lead_id=lead_id)
    here = found["lead"]["instance_id"]
    return json_response({**found, "history": [h for h in found["history"] if h["instance_id"] == here]})


async def instance_leads(request: Request):
    """GET /v1/instances/{instance_id}/leads — that instance's leads only, newest first."""
    instance_id = request.path_params["instance_id"]
    async with service(request).pool.acquire() as conn:
        await instance_gate(request, conn, instance_id)
        found = await repository.leads.leads_of(conn, instance_id)
    return json_response({"instance_id": instance_id, "leads": found})


ROUTES = [get("/v1/leads/{lead_id}", lead), get("/v1/instances/{instance_id}/leads", instance_leads)]
