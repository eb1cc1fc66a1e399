"""The notifications service: e-mail, push and the notification center."""

from __future__ import annotations

from crm_contracts import identity, notifications, routing, seats
from crm_runtime.db import migrations_of
from crm_runtime.service import Service

from . import repository
from .delivery import DeliveryWorker
from .handlers import handlers
from .settings import NotificationSettings
from .web import routes


async def deliver(svc: Service) -> None:
    await DeliveryWorker(svc.pool, svc.settings, handover=svc.handover).run()


async def health(svc: Service) -> dict[str, object]:
    async with svc.pool.acquire() as conn:
        return {"deliveries_due": await repository.center.deliveries_due(conn),
                "deliveries_pending": await repository.center.deliveries_pending(conn)}


def service() -> Service:
    return Service("notifications", handlers,
                   consumes=[notifications.COMMANDS, identity.EVENTS, seats.EVENTS, routing.EVENTS],
                   migrations=migrations_of("crm_notifications"), settings=NotificationSettings(),
                   routes=routes, workers=[deliver], health=health)
