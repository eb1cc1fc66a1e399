"""Who may see and do what: the platform's one permission model (`docs/permissions.md` is rendered
from it; its tests and the services read it).

Each service lists its HTTP routes and the commands it consumes in its own `domain/policy.py`, each
naming one `Permission` here; `decide` answers, from the facts a service gathered about the caller
and the thing acted on, allowed or a refusal with its reason. The gates, in order:

1. an operator (support staff, the platform's tools) reads anything and changes nothing;
2. an Open API key reaches only the Open API of its own instance; a platform service (a system
   command) acts only where the contract says a system sends the command;
3. a person must belong to the account the thing is in (`not_in_account`) and be able to sign in:
   display-only, pending and deactivated members may do nothing (the seed: Display Only users "do
   not have access to Lofty");
4. a cancelled instance takes no change (`instance_cancelled`) and, after its read-only days, no
   read either (`instance_closed`);
5. the permission itself, from the caller's role in the account and the instance.

Pure: no I/O, no clock; the facts carry everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    """What an action needs; the value is the name refusals use."""

    PUBLIC = "public"  # anyone, without a token (the invitation page: the link is the secret)
    SIGNED_IN = "signed_in"  # any person who can sign in, for what is their own
    YOURSELF = "yourself"  # a person about themselves
    YOURSELF_OR_ADMIN = "yourself_or_account_admin"  # a person about themselves, the account's admins about anyone
    ACCOUNT_MEMBER = "account_member"  # any active person of the account
    ACCOUNT_ADMIN = "account_admin"  # the account's owner and its active admins
    INSTANCE_MEMBER = "instance_member"  # reading an instance: its members; on the Enterprise one, its admins
    INSTANCE_ADMIN = "instance_admin"  # a private instance's owner and admins; the Enterprise one's account admins
    INSTANCE_OWNER = "instance_owner"  # a private instance's owner; an account admin once it is frozen
    LEAD_ORGANISATION = "lead_organisation"  # instance admins and lead managers
    ROUTING_RULES = "routing_rules"  # the same people as lead organisation
    LEAD_WORK = "lead_work"  # lead organisation, or the lead's holder for their own lead
    LEAD_TRANSFER = "lead_transfer"  # lead work in the source; a member of the target; see `_transfers`
    AGENT_PAUSE = "agent_pause"  # routing rules, or a member about themselves
    API_KEY = "api_key"  # an Open API key of the instance
    SYSTEM = "system"  # a platform service, by its Kafka principal


# The refusal each permission answers with, as the services have always named it.
REASON = {
    Permission.SIGNED_IN: "not_yourself",
    Permission.YOURSELF: "not_yourself",
    Permission.YOURSELF_OR_ADMIN: "not_account_admin",
    Permission.ACCOUNT_MEMBER: "not_account_member",
    Permission.ACCOUNT_ADMIN: "not_account_admin",
    Permission.INSTANCE_MEMBER: "not_instance_member",
    Permission.INSTANCE_ADMIN: "not_instance_owner",
    Permission.INSTANCE_OWNER: "not_instance_owner",
    Permission.LEAD_ORGANISATION: "not_permitted",
    Permission.ROUTING_RULES: "not_permitted",
    Permission.LEAD_WORK: "not_permitted",
    Permission.LEAD_TRANSFER: "not_permitted",
    Permission.AGENT_PAUSE: "not_permitted",
    Permission.API_KEY: "invalid_api_key",
    Permission.SYSTEM: "actor_required",
}

# Why someone in the account may still do nothing: they cannot sign in.
CANNOT_SIGN_IN = {
    "display_only": ("display_only_member", "display-only members have no access to the CRM"),
    "pending_opt_in": ("member_pending", "has not accepted their invitation yet"),
    "pending_seat": ("member_pending", "is waiting for a seat"),
    "pending_activation": ("member_pending", "has not finished onboarding"),
    "seat_unavailable": ("member_pending", "has no seat"),
    "inactive": ("member_inactive", "is deactivated"),
}

ORGANISER_ROLES = frozenset({"owner", "admin", "lead_manager"})
MANAGER_ROLES = frozenset({"owner", "admin"})


@dataclass(frozen=True)
class Action:
    """A route (`GET /v1/...`) or a command type, what it needs, and whether it changes anything."""

    name: str
    permission: Permission
    writes: bool
    note: str = ""  # where the seeds speak, their words; else why we chose it ("our choice: …")
    system: str = ""  # for a command a platform service may send without a person: which one
    api_key: bool = False  # an Open API key of the instance may do it too
    cross_account: bool = False  # about a person in every account they belong to (their own items)
    private_only: bool = False  # only a private instance has it (the handler refuses the Enterprise one)
    about_others: bool = True  # a personal action that can name someone else (else: the caller's own only)


@dataclass(frozen=True)
class Facts:
    """What a service knows about the caller and what they act on. `status` is the caller's status
    in the thing's account (the account's owner is `active`; None: not a person of that account)."""

    user_id: str | None = None
    operator: bool = False
    api_key: bool = False  # an Open API key of the instance acted on
    system: bool = False  # a platform service sent it without naming a person
    status: str | None = None
    account_owner: bool = False
    administers: bool = False  # their account role administers the account
    instance_kind: str | None = None  # enterprise | private; None: no instance is involved
    instance_owner: bool = False
    instance_role: str | None = None  # owner | admin | lead_manager | agent; None: not a member
    instance_state: str = "active"  # active | frozen | cancelled | closed (past its read-only days)
    lead_holder: bool = False  # the lead acted on is assigned to them
    yourself: bool = False  # the person acted on is the caller
    target_role: str | None = None  # a transfer: their role in the target instance
    target_kind: str | None = None  # a transfer: the target's kind


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    message: str = ""
    status: int = 200  # the HTTP status a refusal answers with

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


def refuse(reason: str, message: str, status: int = 403) -> Decision:
    return Decision(False, reason, message, status)


def _account_admin(f: Facts) -> bool:
    return f.account_owner or f.administers


def _instance_admin(f: Facts) -> bool:
    if f.instance_kind == "enterprise":
        return _account_admin(f)
    return f.instance_owner or f.instance_role in MANAGER_ROLES


def _organiser(f: Facts) -> bool:
    if f.instance_kind == "enterprise":
        return _account_admin(f)
    return f.instance_owner or f.instance_role in ORGANISER_ROLES


def _member(f: Facts) -> bool:
    """Members read their instance; the account's admins read the Enterprise one, and a frozen one
    they must hand over or cancel."""
    return (f.instance_role is not None or f.instance_owner
            or (_account_admin(f) and (f.instance_kind == "enterprise" or f.instance_state == "frozen")))


def _holds(permission: Permission, f: Facts) -> bool:
    match permission:
        case Permission.PUBLIC | Permission.SIGNED_IN | Permission.ACCOUNT_MEMBER:
            return True
        case Permission.YOURSELF:
            return f.yourself
        case Permission.YOURSELF_OR_ADMIN:
            return f.yourself or _account_admin(f)
        case Permission.ACCOUNT_ADMIN:
            return _account_admin(f)
        case Permission.INSTANCE_MEMBER:
            return _member(f)
        case Permission.INSTANCE_ADMIN:
            return _instance_admin(f)
        case Permission.INSTANCE_OWNER:
            return f.instance_owner or (f.instance_state == "frozen" and _account_admin(f))
        case Permission.LEAD_ORGANISATION | Permission.ROUTING_RULES:
            return _organiser(f)
        case Permission.LEAD_WORK:
            return _organiser(f) or (f.lead_holder and _member(f))
        case Permission.LEAD_TRANSFER:
            return _transfers(f)
        case Permission.AGENT_PAUSE:
            return _organiser(f) or (f.yourself and _member(f))
    return False


def _transfers(f: Facts) -> bool:
    """The seed: "any leads that are in your primary account will not transfer to your private
    instance team", and "manual transfer" from a private team to the main account. So: the lead's
    holder or the source's organisers move it, into an instance they belong to; a lead leaves the
    Enterprise instance for a private one only by the brokerage's own admins."""
    if not (_organiser(f) or (f.lead_holder and _member(f))):
        return False
    if f.target_role is None:
        return False
    return not (f.instance_kind == "enterprise" and f.target_kind == "private" and not _account_admin(f))


def _missing(permission: Permission, f: Facts) -> str:
    who = f.user_id or "the caller"
    if permission is Permission.LEAD_TRANSFER:
        if f.target_role is None:
            return f"{who} is not a member of the instance the lead would go to"
        if f.instance_kind == "enterprise" and f.target_kind == "private" and (_organiser(f) or f.lead_holder):
            return (f"{who} lacks the account_admin permission: the Enterprise account's leads stay in it unless "
                    "its admins move them")
        return f"{who} lacks the lead_work permission on this lead (not its holder, nor an organiser)"
    if permission is Permission.INSTANCE_OWNER:
        return (f"{who} lacks the {permission.value} permission: only the instance's owner, or an account admin "
                "once the owner is deactivated (frozen), may do this")
    return f"{who} lacks the {permission.value} permission"


def _state(action: Action, f: Facts) -> Decision | None:
    if f.instance_state == "closed":
        return refuse("instance_closed", "the instance was cancelled and its read-only time is over", 410)
    if f.instance_state == "cancelled" and action.writes:
        return refuse("instance_cancelled", "the instance was cancelled: its leads are read-only")
    return None


def decide(action: Action, f: Facts) -> Decision:
    """Allowed, or the refusal with its reason, a sentence naming what is missing, and its HTTP status."""
    p = action.permission
    if p is Permission.PUBLIC:
        return ALLOW
    if p is Permission.API_KEY and not f.api_key:  # the Open API knows keys only, operators' tokens included
        return refuse("invalid_api_key", "an instance API key is required", 401)
    if f.operator:
        if action.writes:
            return refuse("operator_read_only", "operators read accounts; they never act for a user")
        return ALLOW
    if f.api_key:
        if p is Permission.API_KEY or action.api_key:
            stopped = _state(action, f)
            return ALLOW if stopped is None else stopped
        return refuse("invalid_api_key", "an API key reaches only the instance Open API", 401)
    if p is Permission.API_KEY:
        return refuse("invalid_api_key", "an instance API key is required", 401)
    if f.system or f.user_id is None:
        if action.system:
            return ALLOW
        return refuse("actor_required", f"{action.name} is sent on behalf of a person: name them "
                      "(by_user_id); no platform service sends it on its own")
    if p is Permission.SYSTEM:
        return refuse("system_only", f"{action.name} is sent by the platform ({action.system or 'a service'}), "
                      "not by a person")
    if f.status is None:
        return refuse("not_in_account", f"{f.user_id} is not a person of this account")
    if f.status in CANNOT_SIGN_IN:
        reason, why = CANNOT_SIGN_IN[f.status]
        return refuse(reason, f"{f.user_id} {why}" if reason != "display_only_member" else why)
    if (stopped := _state(action, f)) is not None:
        return stopped
    if not _holds(p, f):
        return refuse(REASON[p], _missing(p, f))
    return ALLOW


def standing_facts(user_id: str | None, standing, *, operator: bool = False,
                   about_user_id: str | None = None, **more) -> Facts:
    """The facts of a caller from a service's copy of the account — `standing` has the account's
    `owner_user_id`, and the caller's `status` and whether they `administers` it, as identity
    published them (None: no such account). The owner is active."""
    if operator:
        return Facts(user_id=user_id, operator=True)
    if user_id is None:
        return Facts()
    yourself = about_user_id is not None and about_user_id == user_id
    if standing is None:
        return Facts(user_id=user_id, yourself=yourself, **more)
    owner = standing.owner_user_id is not None and standing.owner_user_id == user_id
    return Facts(user_id=user_id, status="active" if owner else standing.status, account_owner=owner,
                 administers=bool(standing.administers), yourself=yourself, **more)
