"""The seats service: its subscriptions, HTTP routes and wiring."""

from __future__ import annotations

from crm_contracts import identity, seats
from crm_runtime.db import migrations_of
from crm_runtime.http import Route, Scope, get_route, json_response, query
from crm_runtime.service import Service

from . import repository
from .handlers import handlers


def routes(svc: Service) -> dict[str, Route]:
    async def seat_ledger(scope: Scope):
        """GET /v1/seats?account_id=… — summary, seat holders, charges and every seat change."""
        account_id = query(scope).get("account_id", "")
        async with svc.pool.acquire() as conn:
            sub = await repository.get_subscription(conn, account_id)
            if sub is None:
                return json_response({"error": "not_found", "account_id": account_id}, 404)
            return json_response({
                "summary": repository.summary(sub, await repository.pending_opt_in(conn, account_id)),
                "holders": await repository.holders(conn, account_id),
                "charges": await repository.charges(conn, account_id),
                "history": await repository.history(conn, account_id)})

    return {"/v1/seats": get_route(seat_ledger)}


def service() -> Service:
    return Service("seats", handlers, consumes=[seats.COMMANDS, identity.EVENTS],
                   migrations=migrations_of("crm_seats"), routes=routes)
