"""The notifications service: e-mail, push and the notification center."""

from __future__ import annotations

from crm_contracts import identity, notifications, routing, seats
from crm_runtime.db import migrations_of
from crm_runtime.http import Route, Scope, get_route, json_response, query
from crm_runtime.service import Service

from . import repository
from .delivery import DeliveryWorker
from .handlers import handlers
from .settings import NotificationSettings


def routes(svc: Service) -> dict[str, Route]:
    async def center(scope: Scope):
        """GET /v1/notifications?user_id=… — a user's notifications and unread counts per instance."""
        user_id = query(scope).get("user_id", "")
        async with svc.pool.acquire() as conn:
            return json_response({"user_id": user_id,
                                  "unread": await repository.unread_counts(conn, user_id),
                                  "items": await repository.notification_center(conn, user_id)})

    return {"/v1/notifications": get_route(center)}


async def deliver(svc: Service) -> None:
    await DeliveryWorker(svc.pool, svc.settings).run()


def service() -> Service:
    return Service("notifications", handlers,
                   consumes=[notifications.COMMANDS, identity.EVENTS, seats.EVENTS, routing.EVENTS],
                   migrations=migrations_of("crm_notifications"), settings=NotificationSettings(),
                   routes=routes, workers=[deliver])
