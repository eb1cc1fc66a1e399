"""Seats' HTTP side: an account's seat ledger, prices, quotes, invoices and dormant seats, and
entitlements per user and instance.

Account owners and admins read their account's ledger, prices, invoices and dormant seats, and
quote anything; an active member quotes what members buy themselves (packages, add-ons, calling).
A user reads their own entitlements and call settings, and the account's owner and admins read
anyone's in the account.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, Field

from crm_contracts.calls import CallSettings
from crm_contracts.common import Ref
from crm_runtime.http import (Answer, Request, Route, action_name, allow, caller, get, json_response, query,
                              service)

from . import access, repository
from .domain import policy
from .domain.entitlements import entitlements
from .domain.invoices import following, invoices, upcoming
from .domain.ledger import Subscription
from .domain.prices import PriceError, quote, renewal_lines, unit_price

# Members buy these themselves: a private instance, add-ons and calling for an instance of theirs.
MEMBER_ITEMS = ("package:", "addon:", "calling:")
MAX_DORMANT_DAYS = 3660


def _bad_request(error: str, message: str) -> Answer:
    return Answer(422, error, message)


class AccountQuery(BaseModel):
    account_id: Ref


class InstanceQuery(BaseModel):
    instance_id: Ref
    user_id: Ref | None = Field(default=None, description="the user asked about (the caller by default)")


def _today(request: Request, sub: Subscription) -> date:
    """The account's own day now (its billing time zone), on the platform's clock."""
    return sub.day_at(service(request).clock(None))


async def _decide(conn, request: Request, account_id: str | None, item: str | None = None, *,
                  about_user_id: str | None = None) -> None:
    """Go on when the policy allows this route (for a quote, of the item's kind); else its refusal."""
    me = caller(request)
    name = action_name(request)
    if item is not None and item.startswith(MEMBER_ITEMS):
        name += "?item=package|addon|calling"
    facts = await access.facts(conn, account_id, me.user_id, operator=me.operator, about_user_id=about_user_id)
    allow(policy.route(name, facts))


async def _subscription(conn, request: Request, account_id: str, item: str | None = None) -> Subscription:
    """The account's subscription once the caller may read it (see `_decide`); 404 without one."""
    await _decide(conn, request, account_id, item)
    if (sub := await repository.ledger.get_subscription(conn, account_id)) is None:
        raise Answer(404, "not_found", account_id=account_id)
    return sub


async def _user_in_instance(conn, request: Request) -> tuple[str, str, Any]:
    """The user asked about (by default the caller), the instance and its row, once the caller may
    know them: about themselves, or as the account's admins; 404 for an unknown instance."""
    asked = query(request, InstanceQuery)
    user_id, instance_id = asked.user_id or caller(request).user_id, asked.instance_id
    found = await repository.purchases.instance_account(conn, instance_id)
    # Even about themselves, a caller learns an instance's account and MLS only if it is theirs.
    await _decide(conn, request, found["account_id"] if found else None, about_user_id=user_id)
    if found is None:
        raise Answer(404, "not_found", user_id=user_id, instance_id=instance_id)
    return user_id, instance_id, found


async def seat_ledger(request: Request):
    """GET /v1/seats?account_id=… — summary, seat holders, charges and every seat change."""
    account_id = query(request, AccountQuery).account_id
    async with service(request).pool.acquire() as conn:
        sub = await _subscription(conn, request, account_id)
        holders = await repository.ledger.holders(conn, account_id)
        return json_response({
            "summary": repository.ledger.summary(sub, await repository.ledger.pending_opt_in(conn, account_id), holders),
            "holders": holders,
            "charges": await repository.ledger.charges(conn, account_id),
            "history": await repository.ledger.history(conn, account_id)})


async def entitlements_of(request: Request):
    """GET /v1/entitlements?instance_id=…[&user_id=…] — what the user (by default the caller) may
    use there, each with why."""
    async with service(request).pool.acquire() as conn:
        user_id, instance_id, found = await _user_in_instance(conn, request)
        account_id = found["account_id"]
        member = (await repository.purchases.membership(conn, account_id, instance_id, [user_id]))[user_id]
        sub = await repository.ledger.get_subscription(conn, account_id)
        today = _today(request, sub) if sub else service(request).clock(None).date()
        addons, calling, integrations = await repository.purchases.entitlement_facts(conn, account_id, user_id, instance_id,
                                                                           today)
    items = entitlements(user_id, instance_id, member=member, addons_here=addons, calling=calling,
                         integrations=integrations)
    return json_response({"user_id": user_id, "instance_id": instance_id, "account_id": account_id,
                          "member": member, "mls_id": found["mls_id"], "items": [i.as_dict() for i in items],
                          "available": sorted(i.item for i in items if i.available)})


async def prices(request: Request):
    """GET /v1/prices?account_id=… — the account's price list (defaults and its own prices)."""
    account_id = query(request, AccountQuery).account_id
    async with service(request).pool.acquire() as conn:
        await _decide(conn, request, account_id)
        found = await repository.purchases.price_list(conn, account_id)
    return json_response({"account_id": account_id, "currency": found.currency, "prices": found.prices})


# A quote walks the periods from the subscription's own to the day asked: the day is bounded so
# that walk is short (a year back, five ahead covers any planning).
QUOTE_DAYS_BACK, QUOTE_DAYS_AHEAD = 366, 5 * 366


class QuoteQuery(AccountQuery):
    item: str = Field(min_length=1, max_length=100, description="seat, package:…, addon:… or calling:…")
    on: date | None = Field(default=None, description="the day of the purchase (today by default)")


class DormantQuery(AccountQuery):
    days: int = Field(default=30, ge=0, le=MAX_DORMANT_DAYS)


async def quotes(request: Request):
    """GET /v1/quotes?account_id=…&item=…[&on=YYYY-MM-DD] — what buying `item` (`seat`,
    `package:…`, `addon:…`, `calling:…`) on that day (today by default) costs: the amount the
    charge made that day will have."""
    wanted = query(request, QuoteQuery)
    account_id, item, asked = wanted.account_id, wanted.item, wanted.on
    async with service(request).pool.acquire() as conn:
        sub = await _subscription(conn, request, account_id, item)
        today = _today(request, sub)
        on = asked or today
        if not today - timedelta(days=QUOTE_DAYS_BACK) <= on <= today + timedelta(days=QUOTE_DAYS_AHEAD):
            raise Answer(422, "invalid_query", f"on: a day from {QUOTE_DAYS_BACK} days ago to {QUOTE_DAYS_AHEAD} "
                         "days ahead", parameter="on")
        try:
            price, currency = unit_price(item, sub, await repository.purchases.price_list(conn, account_id))
        except PriceError as err:
            raise _bad_request(err.reason, err.message) from None
    return json_response({"account_id": account_id, **quote(item, price, currency, sub, on).as_dict()})


async def invoices_of(request: Request):
    """GET /v1/invoices?account_id=… — per billing period: the recurring seat line, each charge
    (pro-rated purchases, renewals of recurring items) with its item, day and amount, and the
    total; and `upcoming`, the next period's invoice as it stands today (its seats and the renewal
    of every recurring item, at today's prices)."""
    account_id = query(request, AccountQuery).account_id
    async with service(request).pool.acquire() as conn:
        await _decide(conn, request, account_id)
        periods = await repository.ledger.billing_periods(conn, account_id)
        charges = await repository.ledger.charges(conn, account_id)
        sub = await repository.ledger.get_subscription(conn, account_id)
        next_invoice = None
        if sub is not None and (ahead := following(sub, _today(request, sub))) is not None:
            after, period = ahead
            held = await repository.purchases.recurring_items(conn, account_id, period.start)
            prices = await repository.purchases.price_list(conn, account_id)
            next_invoice = upcoming(after, period, renewal_lines(held, after, prices))
    return json_response({"account_id": account_id, **invoices(periods, charges), "upcoming": next_invoice})


async def dormant(request: Request):
    """GET /v1/seats/dormant?account_id=…&days=30 — members holding a seat who have not become
    active within `days` of getting it, with that day and what the seat costs per period."""
    wanted = query(request, DormantQuery)
    account_id, days = wanted.account_id, wanted.days
    async with service(request).pool.acquire() as conn:
        sub = await _subscription(conn, request, account_id)
        held = await repository.ledger.dormant_holders(conn, account_id, _today(request, sub) - timedelta(days=days))
    return json_response({"account_id": account_id, "days": days, "currency": sub.currency, "seats": [
        {**h, "cost_per_period_cents": sub.seat_price_cents} for h in held]})


async def call_settings_of(request: Request):
    """GET /v1/call-settings?instance_id=…[&user_id=…] — the user's bridge number (the same on
    every instance) and their call settings in this instance (the defaults until set)."""
    async with service(request).pool.acquire() as conn:
        user_id, instance_id, found = await _user_in_instance(conn, request)
        account_id = found["account_id"]
        number = await repository.calls.bridge_number(conn, account_id, user_id)
        saved = await repository.calls.call_settings(conn, instance_id, user_id)
    return json_response({"user_id": user_id, "instance_id": instance_id, "bridge_number": number,
                          "same_on_every_instance": ["bridge_number", "personal_number"],
                          "settings": saved or CallSettings().model_dump(mode="json"), "custom": saved is not None})


ROUTES: list[Route] = [
    get("/v1/seats", seat_ledger, query=AccountQuery), get("/v1/seats/dormant", dormant, query=DormantQuery),
    get("/v1/entitlements", entitlements_of, query=InstanceQuery), get("/v1/prices", prices, query=AccountQuery),
    get("/v1/quotes", quotes, query=QuoteQuery), get("/v1/invoices", invoices_of, query=AccountQuery),
    get("/v1/call-settings", call_settings_of, query=InstanceQuery)]


def routes(_svc: Any = None) -> list[Route]:
    """The endpoints are module-level; each finds its service on the request."""
    return ROUTES
