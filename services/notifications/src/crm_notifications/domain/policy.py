"""Who may do what in notifications: every HTTP route and every command notifications consumes,
each with the permission it needs (`crm_contracts.permissions`, rendered in docs/permissions.md).
Pure; the web side and the handlers gather the facts (`crm_notifications.access`) and ask here."""

from __future__ import annotations

from crm_contracts.permissions import Action, Decision, Facts, Permission as P, decide

SERVICE = "notifications"

_TEMPLATES = ('the seed: the account\'s admins "customize this invitation email" (Settings > Company > Users > '
              "Manage Invitation Emails)")

ROUTES: dict[str, Action] = {a.name: a for a in (
    Action("GET /v1/notifications", P.YOURSELF, False,
           'the seed: a user "must be logged in to that instance to see the notification details"',
           cross_account=True),
    Action("POST /v1/notifications/{notification_id}/read", P.YOURSELF, True, "a person marks their own",
           cross_account=True, about_others=False),
    Action("POST /v1/notifications/read-all", P.YOURSELF, True, "a person marks their own", about_others=False),
    Action("GET /v1/templates", P.ACCOUNT_ADMIN, False, _TEMPLATES),
    Action("GET /v1/templates/{kind}/preview", P.ACCOUNT_ADMIN, False, _TEMPLATES),
)}

COMMANDS: dict[str, Action] = {a.name: a for a in (
    Action("notifications.template.set", P.ACCOUNT_ADMIN, True, _TEMPLATES),
    Action("notifications.template.reset", P.ACCOUNT_ADMIN, True, _TEMPLATES),
    Action("notifications.session.set", P.SYSTEM, True, "the platform's sign-in records where a device is "
           "signed in", system="the sign-in service"),
    Action("notifications.notification.read", P.YOURSELF, True, "a person marks their own", about_others=False),
)}


def route(name: str, facts: Facts) -> Decision:
    return decide(ROUTES[name], facts)


def command(type_: str, facts: Facts) -> Decision:
    return decide(COMMANDS[type_], facts)
