"""Who may do what in identity: every HTTP route and every command identity consumes, each with the
permission it needs (`crm_contracts.permissions`, rendered in docs/permissions.md). Pure; the web
side and the handlers gather the facts (`crm_identity.access`) and ask here."""

from __future__ import annotations

from crm_contracts.permissions import Action, Decision, Facts, Permission as P, decide

SERVICE = "identity"

_ADMINS_ADD = 'the seed: "allows account admins to add agents"'
_TEAM = ('the seed: "The private instance team will be a team that you are managing"; its admins manage '
         "it with the owner; on the Enterprise instance, the account's admins")
_OWNER = ('the seed: "a team that you are managing": its owner; the account\'s admins only once the owner is '
          "deactivated (frozen)")

ROUTES: dict[str, Action] = {a.name: a for a in (
    Action("GET /invitations/accept", P.PUBLIC, False, "the link in the e-mail is the secret"),
    Action("POST /invitations/accept", P.PUBLIC, True, "the link in the e-mail is the secret"),
    Action("GET /v1/accounts/{account_id}/roster", P.PUBLIC, False,
           "the seed: display-only users \"can be displayed on your website\"; names, roles and offices only"),
    Action("GET /v1/accounts", P.ACCOUNT_ADMIN, False, "our choice: members' e-mails are for the account's admins"),
    Action("GET /v1/instances", P.YOURSELF, False, "a person reads the instances they belong to, in every account",
           cross_account=True),
    Action("GET /v1/instances/{instance_id}/members", P.INSTANCE_MEMBER, False,
           "the seed: private teams are \"treated as if they are completely separate accounts\": their members"),
    Action("GET /v1/instances/{instance_id}/candidates", P.INSTANCE_ADMIN, False, _TEAM, private_only=True),
    Action("GET /v1/instances/{instance_id}/api-keys", P.INSTANCE_ADMIN, False, _TEAM),
    Action("POST /v1/instances/{instance_id}/api-keys", P.INSTANCE_ADMIN, True, _TEAM),
    Action("DELETE /v1/instances/{instance_id}/api-keys/{key_id}", P.INSTANCE_ADMIN, True, _TEAM),
)}

COMMANDS: dict[str, Action] = {a.name: a for a in (
    Action("identity.account.create", P.SYSTEM, True, system="the platform's sign-up"),
    Action("identity.account.set_opt_in", P.SYSTEM, True, "the seed: opt-in is switched on by the platform",
           system="platform support"),
    Action("identity.group.create", P.SYSTEM, True, "our choice: hierarchy groups come from the admin console's "
           "import of the brokerage's offices", system="the admin console"),
    Action("identity.member.add", P.ACCOUNT_ADMIN, True, _ADMINS_ADD),
    Action("identity.member.import", P.ACCOUNT_ADMIN, True, _ADMINS_ADD),
    Action("identity.member.convert", P.ACCOUNT_ADMIN, True, _ADMINS_ADD),
    Action("identity.member.deactivate", P.ACCOUNT_ADMIN, True, _ADMINS_ADD),
    Action("identity.member.reactivate", P.ACCOUNT_ADMIN, True, _ADMINS_ADD),
    Action("identity.invitation.resend", P.ACCOUNT_ADMIN, True, _ADMINS_ADD),
    Action("identity.invitation.accept", P.PUBLIC, True, "the link in the e-mail is the secret"),
    Action("identity.member.complete_onboarding", P.SYSTEM, True,
           "sent by the onboarding page for the person who opened their link (they cannot sign in before)",
           system="the onboarding page"),
    Action("identity.instance.purchase", P.YOURSELF, True, "a platform user buys for themselves", about_others=False),
    Action("identity.instance.rename", P.INSTANCE_ADMIN, True, _TEAM, private_only=True),
    Action("identity.instance.invite", P.INSTANCE_ADMIN, True, _TEAM, private_only=True),
    Action("identity.instance.remove_member", P.INSTANCE_ADMIN, True, _TEAM, private_only=True),
    Action("identity.instance.set_role", P.INSTANCE_ADMIN, True, _TEAM, private_only=True),
    Action("identity.instance.transfer_ownership", P.INSTANCE_OWNER, True, _OWNER, private_only=True),
    Action("identity.instance.cancel", P.INSTANCE_OWNER, True, _OWNER, private_only=True),
    Action("identity.instance.join", P.YOURSELF, True, "the invited person joins from the instance page", about_others=False),
    Action("identity.api_key.issue", P.INSTANCE_ADMIN, True, _TEAM),
    Action("identity.api_key.revoke", P.INSTANCE_ADMIN, True, _TEAM),
)}


def route(name: str, facts: Facts) -> Decision:
    return decide(ROUTES[name], facts)


def command(type_: str, facts: Facts) -> Decision:
    return decide(COMMANDS[type_], facts)
