"""Notifications' HTTP side: the notification center, each user's own."""

from __future__ import annotations

from crm_runtime.auth import may_read_own
from crm_runtime.http import Request, Route, caller, forbidden, get, json_response
from crm_runtime.service import Service

from . import repository


def routes(svc: Service) -> list[Route]:
    async def center(request: Request):
        """GET /v1/notifications[?user_id=…] — the caller's notifications and unread counts per instance."""
        user_id = request.query_params.get("user_id") or caller(request).user_id
        if not (decision := may_read_own(caller(request), user_id)).allowed:
            return forbidden(request, decision)
        async with svc.pool.acquire() as conn:
            return json_response({"user_id": user_id,
                                  "unread": await repository.unread_counts(conn, user_id),
                                  "items": await repository.notification_center(conn, user_id)})

    return [get("/v1/notifications", center)]
