"""A lead with its whole routing history, and an instance's leads, for the members of the
instance the lead is in."""

from __future__ import annotations

from crm_runtime.http import Request, Route, caller, forbidden, get, json_response
from crm_runtime.service import Service

from .. import repository
from ..access import may_read_leads


def routes(svc: Service) -> list[Route]:
    async def lead(request: Request):
        """GET /v1/leads/{lead_id} — the lead, its open timer and every decision with its explanation."""
        lead_id = request.path_params["lead_id"]
        async with svc.pool.acquire() as conn:
            found = await repository.lead_with_history(conn, lead_id)
            member = found is not None and await repository.is_member(
                conn, found["lead"]["instance_id"], caller(request).user_id)
        if not (decision := may_read_leads(caller(request), member=member)).allowed:
            return forbidden(request, decision)
        if found is None:
            return json_response({"error": "not_found", "lead_id": lead_id}, 404)
        return json_response(found)

    async def instance_leads(request: Request):
        """GET /v1/instances/{instance_id}/leads — that instance's leads only, newest first."""
        instance_id = request.path_params["instance_id"]
        async with svc.pool.acquire() as conn:
            member = await repository.is_member(conn, instance_id, caller(request).user_id)
            if not (decision := may_read_leads(caller(request), member=member)).allowed:
                return forbidden(request, decision)
            if await repository.get_instance(conn, instance_id) is None:
                return json_response({"error": "not_found", "instance_id": instance_id}, 404)
            found = await repository.leads_of(conn, instance_id)
        return json_response({"instance_id": instance_id, "leads": found})

    return [get("/v1/leads/{lead_id}", lead), get("/v1/instances/{instance_id}/leads", instance_leads)]
