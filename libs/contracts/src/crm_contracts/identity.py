"""identity.commands.v1 and identity.events.v1."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, EmailStr, Field

from .common import MAX_IMPORT_ROWS, CommandRejected
from .registry import Direction, message, topic

COMMANDS = topic(
    "identity.commands.v1", Direction.COMMANDS, "identity",
    "Commands to the identity service: accounts, groups, members, invitations, instances, API keys.",
)
EVENTS = topic(
    "identity.events.v1", Direction.EVENTS, "identity",
    "Facts published by the identity service.",
)


class Tier(str, Enum):
    ENTERPRISE = "enterprise"
    TEAM = "team"


class UserType(str, Enum):
    PLATFORM = "platform"
    DISPLAY_ONLY = "display_only"


class Activation(str, Enum):
    IMMEDIATE = "immediate"
    OPT_IN = "opt_in"


class MemberStatus(str, Enum):
    DISPLAY_ONLY = "display_only"
    PENDING_OPT_IN = "pending_opt_in"
    PENDING_SEAT = "pending_seat"
    PENDING_ACTIVATION = "pending_activation"
    ACTIVE = "active"
    SEAT_UNAVAILABLE = "seat_unavailable"
    INACTIVE = "inactive"


class InvitationKind(str, Enum):
    STANDARD = "standard"
    OPT_IN = "opt_in"
    INSTANCE = "instance"


class Package(str, Enum):
    CRM_ONLY = "crm_only"
    CRM_IDX_SOLO = "crm_idx_solo"
    CRM_IDX_TEAM = "crm_idx_team"


class Person(BaseModel):
    user_id: str = Field(min_length=1)
    email: EmailStr
    first_name: str = Field(min_length=1)
    last_name: str = Field(min_length=1)


# --- commands ---------------------------------------------------------------------------


@message("identity.account.create", on=COMMANDS)
class CreateAccount(BaseModel):
    """Create an account (tenant) with its owner."""

    account_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    tier: Tier
    owner: Person


@message("identity.account.set_opt_in", on=COMMANDS)
class SetOptIn(BaseModel):
    """Turn the agent opt-in setting on or off (platform support; Enterprise accounts only)."""

    enabled: bool


@message("identity.group.create", on=COMMANDS)
class CreateGroup(BaseModel):
    """Create a hierarchy group (office or team) under an optional parent."""

    group_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    parent_group_id: str | None


class MemberRow(BaseModel):
    user_id: str = Field(min_length=1)
    email: EmailStr
    first_name: str = Field(min_length=1)
    last_name: str = Field(min_length=1)
    user_type: UserType
    activation: Activation | None = None
    group_id: str | None = None
    role: str = Field(min_length=1)


@message("identity.member.add", on=COMMANDS)
class AddMember(MemberRow):
    """Add one member; platform users choose an activation mode."""


@message("identity.member.import", on=COMMANDS)
class ImportMembers(BaseModel):
    """Bulk import (the CSV path); each row is a member.add payload, answered row by row."""

    rows: list[dict] = Field(min_length=1, max_length=MAX_IMPORT_ROWS)


@message("identity.member.convert", on=COMMANDS)
class ConvertMember(BaseModel):
    """Turn a display-only member into a platform user."""

    user_id: str = Field(min_length=1)
    activation: Activation
    group_id: str | None = None


@message("identity.member.deactivate", on=COMMANDS)
class DeactivateMember(BaseModel):
    """Deactivate a member; their seat is released."""

    user_id: str = Field(min_length=1)


@message("identity.member.reactivate", on=COMMANDS)
class ReactivateMember(BaseModel):
    """Reactivate a member in the mode they were first activated with."""

    user_id: str = Field(min_length=1)


@message("identity.invitation.resend", on=COMMANDS)
class ResendInvitation(BaseModel):
    """Send a fresh invitation; the previous link stops working."""

    user_id: str = Field(min_length=1)


@message("identity.invitation.accept", on=COMMANDS)
class AcceptInvitation(BaseModel):
    """Accept an invitation by its token (what the e-mail link does)."""

    token: str = Field(min_length=1)


@message("identity.member.complete_onboarding", on=COMMANDS)
class CompleteOnboarding(BaseModel):
    """The member set a phone and a password: pending_activation -> active. The phone (E.164) is
    the user's personal number, the same on every instance they belong to."""

    user_id: str = Field(min_length=1)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")


# Who acts, on commands only an instance's owner may send. Optional on the wire (the field came
# after the command); a command without it is refused with `by_user_id_required`.
ByUser = Field(default=None, min_length=1, max_length=200)


@message("identity.instance.purchase", on=COMMANDS)
class PurchaseInstance(BaseModel):
    """Buy a private instance (a Team account) for a member of an Enterprise account (PI1, PI2).

    The buyer must be able to sign in (status `active`); a user owns at most one."""

    buyer_user_id: str = Field(min_length=1, max_length=200)
    package: Package
    name: str = Field(min_length=1, max_length=200)


@message("identity.instance.rename", on=COMMANDS)
class RenameInstance(BaseModel):
    """Rename a private instance; only its owner may (PI4)."""

    instance_id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    by_user_id: str | None = ByUser


@message("identity.instance.invite", on=COMMANDS)
class InviteToInstance(BaseModel):
    """The owner invites a member of their Enterprise account into their private instance (PI3)."""

    instance_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100)
    by_user_id: str | None = ByUser


@message("identity.instance.join", on=COMMANDS)
class JoinInstance(BaseModel):
    """An invited member joins the instance (what accepting the instance invitation does)."""

    instance_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)


@message("identity.instance.remove_member", on=COMMANDS)
class RemoveInstanceMember(BaseModel):
    """The owner removes a member from their private instance."""

    instance_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    by_user_id: str | None = ByUser


@message("identity.instance.set_role", on=COMMANDS)
class SetInstanceRole(BaseModel):
    """The owner changes a member's role (permission profile) in their private instance."""

    instance_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100)
    by_user_id: str | None = ByUser


@message("identity.api_key.issue", on=COMMANDS)
class IssueApiKey(BaseModel):
    """Issue an API key for an instance (PI11).

    The key itself never travels on Kafka: identity's HTTP API (`POST /v1/instances/{id}/api-keys`)
    makes the key, shows it once and sends this command with its hash. A sender that makes its own
    key sends `key_hash` (SHA-256, hex) and `last_four` likewise; without them it is refused."""

    instance_id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=100)
    by_user_id: str | None = ByUser
    key_id: str | None = Field(default=None, min_length=1, max_length=200)
    key_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    last_four: str | None = Field(default=None, min_length=4, max_length=4)


@message("identity.api_key.revoke", on=COMMANDS)
class RevokeApiKey(BaseModel):
    """Revoke an API key of an instance; only its owner may."""

    instance_id: str = Field(min_length=1, max_length=200)
    key_id: str = Field(min_length=1, max_length=200)
    by_user_id: str | None = ByUser


# --- events -----------------------------------------------------------------------------


@message("identity.account.created", on=EVENTS)
class AccountCreated(BaseModel):
    """An account exists, with its enterprise instance and owner."""

    account_id: str
    tier: Tier
    enterprise_instance_id: str
    owner_user_id: str
    name: str | None = None
    owner_email: str | None = None
    owner_first_name: str | None = None


@message("identity.account.opt_in_changed", on=EVENTS)
class OptInChanged(BaseModel):
    """The agent opt-in setting of an account changed."""

    account_id: str
    enabled: bool


@message("identity.group.created", on=EVENTS)
class GroupCreated(BaseModel):
    """A hierarchy group exists."""

    group_id: str
    name: str
    parent_group_id: str | None


@message("identity.member.added", on=EVENTS)
class MemberAdded(BaseModel):
    """A member was added to an account."""

    user_id: str
    user_type: UserType
    activation: Activation | None
    status: MemberStatus
    group_id: str | None
    email: str
    first_name: str | None = None
    last_name: str | None = None
    # The member's role in the account (e.g. `agent`, `admin`); services that let account admins
    # read account data learn who they are from it. Absent on events published before it was added.
    role: str | None = None


@message("identity.member.status_changed", on=EVENTS)
class MemberStatusChanged(BaseModel):
    """A member's status moved."""

    user_id: str
    instance_id: str
    from_status: MemberStatus
    to_status: MemberStatus
    reason: str


@message("identity.account.owner_alerted", on=EVENTS)
class OwnerAlerted(BaseModel):
    """Something needs the attention of the account's owner and admins (e.g. a member could not get
    a seat: notifications e-mails each of them, and files it in their notification center)."""

    owner_user_id: str
    owner_email: str
    alert: str
    user_id: str | None = None
    message: str
    # For a member left without a seat: who, and the account's seats as it was refused.
    member_name: str | None = None
    seats_used: int | None = None
    seats_total: int | None = None


class ImportRowResult(BaseModel):
    row: int
    user_id: str | None
    outcome: str  # added | rejected
    reason: str | None = None
    message: str | None = None


@message("identity.member.import_completed", on=EVENTS)
class MemberImportCompleted(BaseModel):
    """The outcome of a bulk import, one entry per row in row order, in `parts` events of at most
    250 rows each (`part` counts from 1), so that every part fits in a Kafka record."""

    results: list[ImportRowResult]
    part: int = 1
    parts: int = 1


@message("identity.invitation.issued", on=EVENTS)
class InvitationIssued(BaseModel):
    """An invitation was issued. The e-mail's link is `accept_page_url?token=<token>`; the token
    travels only sealed to notifications (RSA-OAEP with its public key, `v1.<key id>.<base64url>`):
    every service reads this topic, and whoever holds a token can accept the invitation."""

    user_id: str
    invitation_id: str
    kind: InvitationKind
    accept_page_url: str
    sealed_token: str
    expires_at: datetime
    email: str
    first_name: str | None = None
    account_name: str | None = None
    # For `instance` invitations: the instance the invitee joins on acceptance, and with what role.
    instance_id: str | None = None
    role: str | None = None


@message("identity.invitation.accepted", on=EVENTS)
class InvitationAccepted(BaseModel):
    """An invitation was accepted by its link or token."""

    user_id: str
    invitation_id: str
    kind: InvitationKind | None = None


@message("identity.instance.created", on=EVENTS)
class InstanceCreated(BaseModel):
    """A private instance exists and is usable at once (PI1). Its owner joins it with role
    `owner` (an `identity.instance.member_joined` follows). `parsing_email` is the instance's
    own lead-parsing address; `website_id` is set for IDX packages."""

    instance_id: str
    owner_user_id: str
    package: str
    name: str
    parsing_email: str
    website_id: str | None
    kind: str = "private"
    # Routing capability of the package: `crm_idx_solo` has none (every lead to the owner).
    routing: bool | None = None
    members_allowed: bool | None = None


@message("identity.instance.renamed", on=EVENTS)
class InstanceRenamed(BaseModel):
    """A private instance has a new name."""

    instance_id: str
    name: str


@message("identity.instance.member_joined", on=EVENTS)
class InstanceMemberJoined(BaseModel):
    """A user became a member of an instance, with the role the owner set. Each (user, instance)
    has its own sending and lead-capture addresses."""

    instance_id: str
    user_id: str
    role: str
    sending_email: str | None = None
    capture_email: str | None = None


@message("identity.instance.member_removed", on=EVENTS)
class InstanceMemberRemoved(BaseModel):
    """A user stopped being a member of an instance; `reason` is `removed_by_owner` or
    `member_deactivated` (deactivated in the Enterprise account: back only by a new invitation)."""

    instance_id: str
    user_id: str
    role: str
    reason: str | None = None


@message("identity.instance.member_role_changed", on=EVENTS)
class InstanceMemberRoleChanged(BaseModel):
    """The owner changed a member's role in an instance."""

    instance_id: str
    user_id: str
    from_role: str
    role: str


@message("identity.api_key.issued", on=EVENTS)
class ApiKeyIssued(BaseModel):
    """An API key was issued; only its SHA-256 (hex) travels, never the key."""

    instance_id: str
    key_id: str
    key_hash: str
    name: str | None = None
    last_four: str | None = None


@message("identity.api_key.revoked", on=EVENTS)
class ApiKeyRevoked(BaseModel):
    """An API key was revoked; it opens nothing from now on."""

    instance_id: str
    key_id: str
    key_hash: str


@message("identity.command.rejected", on=EVENTS)
class IdentityCommandRejected(CommandRejected):
    """An identity command broke a rule."""
