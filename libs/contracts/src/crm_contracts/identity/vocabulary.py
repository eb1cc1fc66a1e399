"""identity's two topics and the words its messages share: tiers, user types, activations,
member statuses and the moves between them, invitation kinds, packages, a person."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, EmailStr

from ..common import Id
from ..registry import Direction, topic

COMMANDS = topic(
    "identity.commands.v1", Direction.COMMANDS, "identity",
    "Commands to the identity service: accounts, groups, members, invitations, instances, API keys.",
)
EVENTS = topic(
    "identity.events.v1", Direction.EVENTS, "identity",
    "Facts published by the identity service.",
)


class Tier(StrEnum):
    ENTERPRISE = "enterprise"
    TEAM = "team"


class UserType(StrEnum):
    PLATFORM = "platform"
    DISPLAY_ONLY = "display_only"


class Activation(StrEnum):
    IMMEDIATE = "immediate"
    OPT_IN = "opt_in"


class MemberStatus(StrEnum):
    DISPLAY_ONLY = "display_only"
    PENDING_OPT_IN = "pending_opt_in"
    PENDING_SEAT = "pending_seat"
    PENDING_ACTIVATION = "pending_activation"
    ACTIVE = "active"
    SEAT_UNAVAILABLE = "seat_unavailable"
    INACTIVE = "inactive"


class MemberMove(StrEnum):
    """What moved a member from one status to another; the value is also the `reason` published
    with the move, unless the move passes on a more precise one (a seat's refusal)."""

    OPT_IN_ACCEPTED = "invitation_accepted"
    SEAT_RESERVED = "seat_reserved"
    SEAT_DENIED = "no_seat_available"
    ONBOARDING_COMPLETED = "onboarding_completed"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    CONVERTED = "converted"


class InvitationKind(StrEnum):
    STANDARD = "standard"
    OPT_IN = "opt_in"
    INSTANCE = "instance"


class Package(StrEnum):
    CRM_ONLY = "crm_only"
    CRM_IDX_SOLO = "crm_idx_solo"
    CRM_IDX_TEAM = "crm_idx_team"


class Person(BaseModel):
    user_id: str = Id
    email: EmailStr
    first_name: str = Id
    last_name: str = Id
