"""An instance's routing rules over HTTP: the current version, every version with what changed,
and a dry run that answers what a live lead would get, changing nothing."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from crm_contracts.common import Refused
from crm_contracts.leads import Channel, Lead
from crm_runtime.http import Answer, Request, get, json_response, post, service

from .. import repository
from ..domain.rule_history import diff
from ..handlers.leads import preview
from .gate import instance_gate


class DryRun(BaseModel):
    lead: Lead
    channel: Channel = Channel.MANUAL
    rules: list[dict] | None = Field(default=None, max_length=500)


async def current(request: Request):
    """GET /v1/instances/{instance_id}/rules — the version leads are routed by now (none: the
    default, round robin over every eligible member)."""
    instance_id = request.path_params["instance_id"]
    async with service(request).pool.acquire() as conn:
        await instance_gate(request, conn, instance_id)
        versions = await repository.leads.rule_versions(conn, instance_id, newest_only=True)
    latest = versions[-1] if versions else None
    return json_response({"instance_id": instance_id, "version": latest["version"] if latest else None,
                          "rules": latest["rules"] if latest else [], "set_at": latest and latest["set_at"],
                          "set_by": latest and latest["set_by"]})


async def versions(request: Request):
    """GET /v1/instances/{instance_id}/rules/versions — every version, oldest first: who set it,
    when, the version a rollback copied, and what changed from the one before."""
    instance_id = request.path_params["instance_id"]
    async with service(request).pool.acquire() as conn:
        await instance_gate(request, conn, instance_id)
        found = await repository.leads.rule_versions(conn, instance_id)
    previous = None
    for version in found:
        version["changes"] = diff(previous, version["rules"])
        previous = version["rules"]
    return json_response({"instance_id": instance_id, "versions": found})


async def dry_run(request: Request):
    """POST /v1/instances/{instance_id}/rules/dry-run {"lead", "channel"?, "rules"?} — the decision
    and the event a lead captured now would get, under the current rules or the draft `rules`; no
    rotation advanced, no event, no timer."""
    instance_id = request.path_params["instance_id"]
    try:
        asked = DryRun.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        raise Answer(400, "invalid_request", str(exc)[:500]) from None
    async with service(request).pool.acquire() as conn:
        await instance_gate(request, conn, instance_id)
        try:
            answer = await preview(conn, instance_id, asked.channel.value, asked.lead.model_dump(mode="json"),
                                   asked.rules)
        except Refused as bad:  # a draft that would be refused as routing.rules.set
            raise Answer(422, bad.reason, bad.message) from None
    return json_response(answer)


_BASE = "/v1/instances/{instance_id}/rules"
ROUTES = [get(_BASE, current), get(f"{_BASE}/versions", versions), post(f"{_BASE}/dry-run", dry_run, body=DryRun)]
