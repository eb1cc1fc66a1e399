"""An instance's lead organisation over HTTP: its pipeline (with the leads in each stage), its
sources, its segments, and a segment's leads page by page."""

from __future__ import annotations

from crm_runtime.http import Request, Response, Route, get, json_response
from crm_runtime.service import Service

from .. import repository
from .gate import instance_gate
from .paging import after as after_cursor, cursor_of

PAGE = 50


def routes(svc: Service) -> list[Route]:
    async def _readable(request: Request, conn) -> Response | None:
        """None when the caller may read the instance's organisation; else the answer saying why not."""
        refused, _ = await instance_gate(request, conn, request.path_params["instance_id"])
        return refused

    def listing(name: str, read):
        """GET /v1/instances/{instance_id}/<name>: one part of the instance's organisation."""
        async def endpoint(request: Request):
            async with svc.pool.acquire() as conn:
                if (refused := await _readable(request, conn)) is not None:
                    return refused
                found = await read(conn, request.path_params["instance_id"])
            return json_response({"instance_id": request.path_params["instance_id"], name: found})
        return endpoint

    # The stages in order with how many leads each has; the lead sources in order; saved segments.
    pipeline = listing("stages", repository.pipeline)
    sources = listing("sources", repository.sources)
    segments = listing("segments", repository.segments)

    async def segment_leads(request: Request):
        """GET /v1/instances/{instance_id}/segments/{segment_id}/leads?cursor=…&limit=… — the
        segment's leads, newest first; `next` is the cursor of the following page (null at the end)."""
        instance_id, segment_id = request.path_params["instance_id"], request.path_params["segment_id"]
        try:
            after = after_cursor(request.query_params.get("cursor"))
            limit = min(max(int(request.query_params.get("limit", PAGE)), 1), 500)
        except ValueError:
            return json_response({"error": "invalid_request", "message": "cursor is one this endpoint gave, "
                                  "limit a whole number"}, 400)
        async with svc.pool.acquire() as conn:
            if (refused := await _readable(request, conn)) is not None:
                return refused
            found = await repository.segment(conn, instance_id, segment_id)
            if found is None:
                return json_response({"error": "not_found", "segment_id": segment_id}, 404)
            rows = await repository.segment_leads(conn, instance_id, found["filter"], after=after, limit=limit)
        return json_response({"instance_id": instance_id, "segment": found, "leads": rows,
                              "next": cursor_of(rows[-1]) if len(rows) == limit else None})

    base = "/v1/instances/{instance_id}"
    return [get(f"{base}/pipeline", pipeline), get(f"{base}/sources", sources), get(f"{base}/segments", segments),
            get(f"{base}/segments/{{segment_id}}/leads", segment_leads)]
