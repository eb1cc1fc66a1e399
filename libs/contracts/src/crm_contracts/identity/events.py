"""identity.events.v1: what the identity service tells everyone."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from ..common import CommandRejected
from ..registry import Message, message
from .vocabulary import EVENTS, Activation, InvitationKind, MemberMove, MemberStatus, Tier, UserType


@message("identity.account.created", on=EVENTS)
class AccountCreated(Message):
    """An account exists, with its enterprise instance and owner."""

    account_id: str
    tier: Tier
    enterprise_instance_id: str
    owner_user_id: str
    name: str | None = None
    owner_email: str | None = None
    owner_first_name: str | None = None
    # Where the Enterprise instance captures leads, as on a private instance's `instance.created`:
    # the account's own website, its parsing address and the owner's own capture address in it.
    # Absent on events published before they were added.
    website_id: str | None = None
    parsing_email: str | None = None
    owner_capture_email: str | None = None


@message("identity.account.opt_in_changed", on=EVENTS)
class OptInChanged(Message):
    """The agent opt-in setting of an account changed."""

    account_id: str
    enabled: bool


@message("identity.group.created", on=EVENTS)
class GroupCreated(Message):
    """A hierarchy group exists."""

    group_id: str
    name: str
    parent_group_id: str | None


@message("identity.member.added", on=EVENTS)
class MemberAdded(Message):
    """A member was added to an account."""

    user_id: str
    user_type: UserType
    activation: Activation | None
    status: MemberStatus
    group_id: str | None
    email: str
    first_name: str | None = None
    last_name: str | None = None
    # The member's role in the account (e.g. `agent`, `admin`), as text to show. Absent on events
    # published before it was added.
    role: str | None = None
    # Whether that role administers the account while the member is active: identity's rule, so
    # other services keep the fact and never interpret roles. False on events published before it
    # was added (every service that keeps it backfilled its rows from the role when it arrived).
    administers_account: bool = False
    # The member's own lead-capture address in the Enterprise instance (PI11): mail sent to it
    # becomes a lead of that instance. Absent on events published before it was added.
    capture_email: str | None = None
    # The account admin who added them (None on events published before it was added).
    by_user_id: str | None = None


@message("identity.member.details_changed", on=EVENTS)
class MemberDetailsChanged(Message):
    """A member's details as they are now, after an admin changed them (a conversion that set
    new ones); published before the status change it comes with."""

    user_id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    role: str | None = None
    # Identity's rule over the role, as on `member.added`: other services keep it, never interpret roles.
    administers_account: bool = False
    group_id: str | None = None
    by_user_id: str | None = None


@message("identity.member.status_changed", on=EVENTS)
class MemberStatusChanged(Message):
    """A member's status moved."""

    user_id: str
    instance_id: str
    from_status: MemberStatus
    to_status: MemberStatus
    reason: str
    # The person whose act moved it (an admin, or the member accepting or onboarding); None when
    # the platform did (a seat answer) or on events published before it was added.
    by_user_id: str | None = None
    # What moved it; None on events published before it was added (see `moved_by`).
    move: MemberMove | None = None

    @property
    def moved_by(self) -> MemberMove | None:
        """What moved the member: `move`, or on older events the reason when it names a move.
        Consumers decide by this, never by the free `reason` code."""
        if self.move is not None:
            return self.move
        return MemberMove(self.reason) if self.reason in MemberMove._value2member_map_ else None


@message("identity.account.owner_alerted", on=EVENTS)
class OwnerAlerted(Message):
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
class MemberImportCompleted(Message):
    """The outcome of a bulk import, one entry per row in row order, in `parts` events of at most
    250 rows each (`part` counts from 1), so that every part fits in a Kafka record."""

    results: list[ImportRowResult]
    part: int = 1
    parts: int = 1


@message("identity.invitation.issued", on=EVENTS)
class InvitationIssued(Message):
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
    # The invitee's family name, for the e-mail's `{last_name}` (absent from events issued before it was carried).
    last_name: str | None = None
    account_name: str | None = None
    # For `instance` invitations: the instance the invitee joins on acceptance, and with what role.
    instance_id: str | None = None
    role: str | None = None


@message("identity.invitation.accepted", on=EVENTS)
class InvitationAccepted(Message):
    """An invitation was accepted by its link or token."""

    user_id: str
    invitation_id: str
    kind: InvitationKind | None = None


@message("identity.instance.created", on=EVENTS)
class InstanceCreated(Message):
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
    # The one MLS of an IDX package (absent for `crm_only`, and on events before it was added).
    mls_id: str | None = None


@message("identity.instance.renamed", on=EVENTS)
class InstanceRenamed(Message):
    """A private instance has a new name."""

    instance_id: str
    name: str


@message("identity.instance.member_joined", on=EVENTS)
class InstanceMemberJoined(Message):
    """A user became a member of an instance, with the role the owner set. Each (user, instance)
    has its own sending and lead-capture addresses."""

    instance_id: str
    user_id: str
    role: str
    sending_email: str | None = None
    capture_email: str | None = None


@message("identity.instance.member_removed", on=EVENTS)
class InstanceMemberRemoved(Message):
    """A user stopped being a member of an instance; `reason` is `removed_by_owner`,
    `removed_by_admin` (an admin member of the instance removed them) or
    `member_deactivated` (deactivated in the Enterprise account: back only by a new invitation)."""

    instance_id: str
    user_id: str
    role: str
    reason: str | None = None


@message("identity.instance.member_role_changed", on=EVENTS)
class InstanceMemberRoleChanged(Message):
    """The owner changed a member's role in an instance."""

    instance_id: str
    user_id: str
    from_role: str
    role: str


@message("identity.api_key.issued", on=EVENTS)
class ApiKeyIssued(Message):
    """An API key was issued; only its SHA-256 (hex) travels, never the key."""

    instance_id: str
    key_id: str
    key_hash: str
    name: str | None = None
    last_four: str | None = None


@message("identity.api_key.revoked", on=EVENTS)
class ApiKeyRevoked(Message):
    """An API key was revoked; it opens nothing from now on."""

    instance_id: str
    key_id: str
    key_hash: str


@message("identity.instance.frozen", on=EVENTS)
class InstanceFrozen(Message):
    """The instance's owner was deactivated in the Enterprise account: no invitations, nobody
    manages it, routing goes on for its members; account admins hand it over or cancel it."""

    instance_id: str
    owner_user_id: str
    reason: str = "owner_deactivated"


@message("identity.instance.ownership_transferred", on=EVENTS)
class InstanceOwnershipTransferred(Message):
    """The instance has a new owner (a member with role `owner`; a `member_joined` or
    `member_role_changed` follows for them) and runs again if it was frozen."""

    instance_id: str
    from_user_id: str
    to_user_id: str
    by_user_id: str | None = None


@message("identity.instance.cancelled", on=EVENTS)
class InstanceCancelled(Message):
    """The instance is closed: no charges after the billing period it was cancelled in, nothing new
    captured or changed in it, its leads readable until `read_only_until`."""

    instance_id: str
    by_user_id: str | None = None
    read_only_until: datetime


@message("identity.command.rejected", on=EVENTS)
class IdentityCommandRejected(CommandRejected):
    """An identity command broke a rule."""
