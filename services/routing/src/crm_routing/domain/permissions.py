"""Who may organise an instance's leads (its pipeline, sources and segments), set its routing
rules and pause its agents, and work a lead (its stage and tags). Pure: the handler supplies the
facts. The profiles are identity's (`admin`, `lead_manager`, `agent`); routing keeps the role
each member was given.

- an instance's owner may do everything; so may, on the Enterprise instance, the account's
  admins, and in a private instance, members whose role is `admin` or `lead_manager`;
- any other member may work the leads assigned to them;
- nobody who is not active in the account may do anything.
"""

from __future__ import annotations

from dataclasses import dataclass

ORGANISE = "lead_organisation"
RULES = "routing_rules"
WORK_LEAD = "lead_work"
ORGANISER_ROLES = frozenset({"owner", "admin", "lead_manager"})


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str | None  # their role in the instance; None when not a member
    status: str | None  # their status in the account
    administers: bool  # they administer the account


@dataclass(frozen=True)
class Place:
    instance_id: str
    kind: str  # enterprise | private
    owner_user_id: str


def organises(actor: Actor, place: Place) -> bool:
    return (actor.user_id == place.owner_user_id or actor.role in ORGANISER_ROLES
            or (place.kind == "enterprise" and actor.administers))


def refusal(permission: str, actor: Actor, place: Place, *, assignee: str | None = None) -> str | None:
    """None when `actor` may do what `permission` covers in `place` (for a lead, the one assigned
    to `assignee`); else why not, naming the missing permission."""
    who = actor.user_id
    if actor.status != "active":
        return f"{who} is not active in the account ({actor.status or 'unknown'})"
    if actor.role is None and not (place.kind == "enterprise" and actor.administers):
        return f"{who} is not a member of instance {place.instance_id}"
    if organises(actor, place):
        return None
    if permission == WORK_LEAD and assignee == who:
        return None
    if permission == WORK_LEAD:
        return (f"{who} lacks the {ORGANISE} permission in {place.instance_id}, needed for a lead "
                "not assigned to them")
    return f"{who} lacks the {permission} permission in {place.instance_id} (role {actor.role})"
