"""The identity service: its subscriptions, HTTP routes and wiring."""

from __future__ import annotations

from crm_contracts import identity, seats
from crm_runtime.db import migrations_of
from crm_runtime.http import Route, Scope, get_route, json_response, query
from crm_runtime.service import Service

from . import repository
from .handlers import handlers


def routes(svc: Service) -> dict[str, Route]:
    async def account(scope: Scope):
        account_id = query(scope).get("account_id", "")
        async with svc.pool.acquire() as conn:
            found = await repository.get_account(conn, account_id)
        if found is None:
            return json_response({"error": "not_found", "account_id": account_id}, 404)
        return json_response({"account": found.__dict__})

    return {"/v1/accounts": get_route(account)}


def service() -> Service:
    return Service("identity", handlers, consumes=[identity.COMMANDS, seats.EVENTS],
                   migrations=migrations_of("crm_identity"), routes=routes)
