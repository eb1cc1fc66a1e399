"""Seats' HTTP side: the seat ledger of an account."""

from __future__ import annotations

from crm_runtime.http import Request, Route, get, json_response
from crm_runtime.service import Service

from . import repository


def routes(svc: Service) -> list[Route]:
    async def seat_ledger(request: Request):
        """GET /v1/seats?account_id=… — summary, seat holders, charges and every seat change."""
        account_id = request.query_params.get("account_id", "")
        async with svc.pool.acquire() as conn:
            sub = await repository.get_subscription(conn, account_id)
            if sub is None:
                return json_response({"error": "not_found", "account_id": account_id}, 404)
            return json_response({
                "summary": repository.summary(sub, await repository.pending_opt_in(conn, account_id)),
                "holders": await repository.holders(conn, account_id),
                "charges": await repository.charges(conn, account_id),
                "history": await repository.history(conn, account_id)})

    return [get("/v1/seats", seat_ledger)]
