"""An instance's lead organisation over HTTP: its pipeline (with the leads in each stage), its
sources, its segments, its business hours, and a segment's leads page by page."""

from __future__ import annotations

from crm_runtime.http import Answer, Request, get, json_response, query, service

from .. import repository
from .gate import instance_gate
from .paging import Page, cursor_of



def _listing(name: str, read):
    """GET /v1/instances/{instance_id}/<name>: one part of the instance's organisation."""
    async def endpoint(request: Request):
        instance_id = request.path_params["instance_id"]
        async with service(request).pool.acquire() as conn:
            await instance_gate(request, conn, instance_id)
            found = await read(conn, instance_id)
        return json_response({"instance_id": instance_id, name: found})
    return endpoint


# The stages in order with how many leads each has; the lead sources in order; saved segments.
pipeline = _listing("stages", repository.organisation.pipeline)
sources = _listing("sources", repository.organisation.sources)
segments = _listing("segments", repository.organisation.segments)
# The hours claim timers count (null until set), exactly as they were set.
business_hours = _listing("business_hours", repository.leads.business_hours)


async def segment_leads(request: Request):
    """GET /v1/instances/{instance_id}/segments/{segment_id}/leads?cursor=…&limit=… — the segment's
    leads, newest first; `next` is the cursor of the following page (null at the end)."""
    instance_id, segment_id = request.path_params["instance_id"], request.path_params["segment_id"]
    page = query(request, Page)
    after, limit = page.after, page.limit
    async with service(request).pool.acquire() as conn:
        await instance_gate(request, conn, instance_id)
        found = await repository.organisation.segment(conn, instance_id, segment_id)
        if found is None:
            raise Answer(404, "not_found", segment_id=segment_id)
        rows = await repository.organisation.segment_leads(conn, instance_id, found["filter"], after=after, limit=limit)
    return json_response({"instance_id": instance_id, "segment": found, "leads": rows,
                          "next": cursor_of(rows[-1]) if len(rows) == limit else None})


_BASE = "/v1/instances/{instance_id}"
ROUTES = [get(f"{_BASE}/pipeline", pipeline), get(f"{_BASE}/sources", sources), get(f"{_BASE}/segments", segments),
          get(f"{_BASE}/segments/{{segment_id}}/leads", segment_leads, query=Page), get(f"{_BASE}/business-hours", business_hours)]
