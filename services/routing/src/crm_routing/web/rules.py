"""An instance's routing rules over HTTP: the current version, every version with what changed,
and a dry run that answers what a live lead would get, changing nothing."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from crm_contracts.common import Refused
from crm_contracts.leads import Channel, Lead
from crm_runtime.http import Request, Response, Route, get, json_response, post
from crm_runtime.service import Service

from .. import repository
from .gate import instance_gate
from ..domain.rule_history import diff
from ..handlers.leads import preview


class DryRun(BaseModel):
    lead: Lead
    channel: Channel = Channel.MANUAL
    rules: list[dict] | None = Field(default=None, max_length=500)


def routes(svc: Service) -> list[Route]:
    async def _refused(request: Request, conn) -> Response | None:
        refused, _ = await instance_gate(request, conn, request.path_params["instance_id"])
        return refused

    async def current(request: Request):
        """GET /v1/instances/{instance_id}/rules — the version leads are routed by now (none: the
        default, round robin over every eligible member)."""
        instance_id = request.path_params["instance_id"]
        async with svc.pool.acquire() as conn:
            if (refused := await _refused(request, conn)) is not None:
                return refused
            versions = await repository.rule_versions(conn, instance_id, newest_only=True)
        latest = versions[-1] if versions else None
        return json_response({"instance_id": instance_id, "version": latest["version"] if latest else None,
                              "rules": latest["rules"] if latest else [], "set_at": latest and latest["set_at"],
                              "set_by": latest and latest["set_by"]})

    async def versions(request: Request):
        """GET /v1/instances/{instance_id}/rules/versions — every version, oldest first: who set it,
        when, the version a rollback copied, and what changed from the one before."""
        instance_id = request.path_params["instance_id"]
        async with svc.pool.acquire() as conn:
            if (refused := await _refused(request, conn)) is not None:
                return refused
            found = await repository.rule_versions(conn, instance_id)
        previous = None
        for version in found:
            version["changes"] = diff(previous, version["rules"])
            previous = version["rules"]
        return json_response({"instance_id": instance_id, "versions": found})

    async def dry_run(request: Request):
        """POST /v1/instances/{instance_id}/rules/dry-run {"lead", "channel"?, "rules"?} — the
        decision and the event a lead captured now would get, under the current rules or the draft
        `rules`; no rotation advanced, no event, no timer."""
        instance_id = request.path_params["instance_id"]
        try:
            asked = DryRun.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return json_response({"error": "invalid_request", "message": str(exc)[:500]}, 400)
        async with svc.pool.acquire() as conn:
            if (refused := await _refused(request, conn)) is not None:
                return refused
            try:
                answer = await preview(conn, instance_id, asked.channel.value, asked.lead.model_dump(mode="json"),
                                       asked.rules)
            except Refused as bad:  # a draft that would be refused as routing.rules.set
                return json_response({"error": bad.reason, "message": bad.message}, 422)
        return json_response(answer)

    base = "/v1/instances/{instance_id}/rules"
    return [get(base, current), get(f"{base}/versions", versions), post(f"{base}/dry-run", dry_run)]
