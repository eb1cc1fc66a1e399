"""Who may do what in seats: every HTTP route and every command seats consumes, each with the
permission it needs (`crm_contracts.permissions`, rendered in docs/permissions.md). Pure; the web
side and the handlers gather the facts (`crm_seats.access`) and ask here."""

from __future__ import annotations

from crm_contracts.permissions import Action, Decision, Facts, Permission as P, decide

SERVICE = "seats"

_BILLING = "our choice: the account's money is for its owner and admins"
_OWN = "a person reads what they may use; the account's admins read anyone's in the account"
_BUYS = 'the seed: "the agent must purchase" their private instance, add-ons and calling themselves'

ROUTES: dict[str, Action] = {a.name: a for a in (
    Action("GET /v1/seats", P.ACCOUNT_ADMIN, False, _BILLING),
    Action("GET /v1/seats/dormant", P.ACCOUNT_ADMIN, False, _BILLING),
    Action("GET /v1/entitlements", P.YOURSELF_OR_ADMIN, False, _OWN),
    Action("GET /v1/prices", P.ACCOUNT_ADMIN, False, _BILLING),
    Action("GET /v1/quotes", P.ACCOUNT_ADMIN, False, _BILLING + " (a seat's quote)"),
    Action("GET /v1/quotes?item=package|addon|calling", P.ACCOUNT_MEMBER, False,
           "our choice: what a member buys themselves, any active member may ask the price of"),
    Action("GET /v1/invoices", P.ACCOUNT_ADMIN, False, _BILLING),
    Action("GET /v1/call-settings", P.YOURSELF_OR_ADMIN, False, _OWN),
)}

COMMANDS: dict[str, Action] = {a.name: a for a in (
    Action("seats.subscription.set", P.SYSTEM, True, system="billing"),
    Action("seats.subscription.schedule_reduction", P.SYSTEM, True,
           "our choice: the billing system records the owner's decision", system="billing"),
    Action("seats.price_list.set", P.SYSTEM, True, system="billing"),
    Action("seats.addon.purchase", P.YOURSELF, True, _BUYS, about_others=False),
    Action("seats.addon.cancel", P.YOURSELF_OR_ADMIN, True,
           "our choice: who bought an add-on stops it, and the account's admins stop any"),
    Action("seats.calling_package.purchase", P.YOURSELF, True, _BUYS, about_others=False),
    Action("seats.integration.connect", P.YOURSELF, True, "a person connects their own integrations", about_others=False),
    Action("seats.integration.disconnect", P.YOURSELF, True, "a person disconnects their own integrations", about_others=False),
    Action("seats.call_settings.set", P.YOURSELF, True, "a person sets their own call settings per instance", about_others=False),
)}


def route(name: str, facts: Facts) -> Decision:
    return decide(ROUTES[name], facts)


def command(type_: str, facts: Facts) -> Decision:
    return decide(COMMANDS[type_], facts)
