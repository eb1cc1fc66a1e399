"""Seats' HTTP side: an account's seat ledger and prices, and entitlements per user and instance.

Account owners and admins read their account's ledger and prices; a user reads their own
entitlements, and the account's owner and admins read anyone's in the account.
"""

from __future__ import annotations

from crm_runtime.auth import may_administer_account
from crm_runtime.http import Request, Response, Route, caller, forbidden, get, json_response
from crm_runtime.service import Service

from . import repository
from .domain.entitlements import entitlements


async def _unless_admin(conn, request: Request, account_id: str | None) -> Response | None:
    """A 403 unless the caller administers the account (None: they may go on)."""
    me = caller(request)
    standing = await repository.account_standing(conn, account_id, me.user_id) if account_id else None
    decision = may_administer_account(me, standing)
    return None if decision.allowed else forbidden(request, decision)


def routes(svc: Service) -> list[Route]:
    async def seat_ledger(request: Request):
        """GET /v1/seats?account_id=… — summary, seat holders, charges and every seat change."""
        account_id = request.query_params.get("account_id", "")
        async with svc.pool.acquire() as conn:
            if (refused := await _unless_admin(conn, request, account_id)) is not None:
                return refused
            sub = await repository.get_subscription(conn, account_id)
            if sub is None:
                return json_response({"error": "not_found", "account_id": account_id}, 404)
            return json_response({
                "summary": repository.summary(sub, await repository.pending_opt_in(conn, account_id)),
                "holders": await repository.holders(conn, account_id),
                "charges": await repository.charges(conn, account_id),
                "history": await repository.history(conn, account_id)})

    async def entitlements_of(request: Request):
        """GET /v1/entitlements?instance_id=…[&user_id=…] — what the user (by default the caller) may
        use there, each with why."""
        user_id = request.query_params.get("user_id") or caller(request).user_id
        instance_id = request.query_params.get("instance_id", "")
        async with svc.pool.acquire() as conn:
            account_id = await repository.instance_account(conn, instance_id)
            if user_id != caller(request).user_id and (refused := await _unless_admin(conn, request, account_id)):
                return refused
            if account_id is None:
                return json_response({"error": "not_found", "user_id": user_id, "instance_id": instance_id}, 404)
            member = (await repository.membership(conn, account_id, instance_id, [user_id]))[user_id]
            addons, calling, integrations = await repository.entitlement_facts(conn, account_id, user_id, instance_id)
        items = entitlements(user_id, instance_id, member=member, addons_here=addons, calling=calling,
                             integrations=integrations)
        return json_response({"user_id": user_id, "instance_id": instance_id, "account_id": account_id,
                              "member": member, "items": [i.as_dict() for i in items],
                              "available": sorted(i.item for i in items if i.available)})

    async def prices(request: Request):
        """GET /v1/prices?account_id=… — the account's price list (defaults and its own prices)."""
        account_id = request.query_params.get("account_id", "")
        async with svc.pool.acquire() as conn:
            if (refused := await _unless_admin(conn, request, account_id)) is not None:
                return refused
            found = await repository.price_list(conn, account_id)
        return json_response({"account_id": account_id, "currency": found.currency, "prices": found.prices})

    return [get("/v1/seats", seat_ledger), get("/v1/entitlements", entitlements_of), get("/v1/prices", prices)]
