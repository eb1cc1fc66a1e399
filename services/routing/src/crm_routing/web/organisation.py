"""An instance's lead organisation over HTTP: its pipeline (with the leads in each stage), its
sources, its segments, and a segment's leads page by page."""

from __future__ import annotations

from crm_runtime.http import Answer, Request, get, json_response, service

from .. import repository
from .gate import instance_gate
from .paging import after as after_cursor, cursor_of

PAGE = 50


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
pipeline = _listing("stages", repository.pipeline)
sources = _listing("sources", repository.sources)
segments = _listing("segments", repository.segments)


async def segment_leads(request: Request):
    """GET /v1/instances/{instance_id}/segments/{segment_id}/leads?cursor=…&limit=… — the segment's
    leads, newest first; `next` is the cursor of the following page (null at the end)."""
    instance_id, segment_id = request.path_params["instance_id"], request.path_params["segment_id"]
    try:
        after = after_cursor(request.query_params.get("cursor"))
        limit = min(max(int(request.query_params.get("limit", PAGE)), 1), 500)
    except ValueError:
        raise Answer(400, "invalid_request", "cursor is one this endpoint gave, limit a whole number") from None
    async with service(request).pool.acquire() as conn:
        await instance_gate(request, conn, instance_id)
        found = await repository.segment(conn, instance_id, segment_id)
        if found is None:
            raise Answer(404, "not_found", segment_id=segment_id)
        rows = await repository.segment_leads(conn, instance_id, found["filter"], after=after, limit=limit)
    return json_response({"instance_id": instance_id, "segment": found, "leads": rows,
                          "next": cursor_of(rows[-1]) if len(rows) == limit else None})


_BASE = "/v1/instances/{instance_id}"
ROUTES = [get(f"{_BASE}/pipeline", pipeline), get(f"{_BASE}/sources", sources), get(f"{_BASE}/segments", segments),
          get(f"{_BASE}/segments/{{segment_id}}/leads", segment_leads)]
