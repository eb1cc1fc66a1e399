"""identity.commands.v1: accounts, groups, members, invitations, instances, API keys."""

from __future__ import annotations


from pydantic import BaseModel, EmailStr, Field

from ..common import MAX_IMPORT_ROWS, Id, OptionalId
from ..registry import Message, message
from .vocabulary import COMMANDS, Activation, Package, Person, Tier, UserType


# Who acts: the person on whose behalf the command is sent. Optional on the wire (the field came
# after the commands); a command that needs a person and names none is refused `actor_required`
# (docs/permissions.md says which need one).
ByUser = Field(default=None, min_length=1, max_length=200)


@message("identity.account.create", on=COMMANDS)
class CreateAccount(Message):
    """Create an account (tenant) with its owner."""

    account_id: str = Id
    name: str = Id
    tier: Tier
    owner: Person


@message("identity.account.set_opt_in", on=COMMANDS)
class SetOptIn(Message):
    """Turn the agent opt-in setting on or off (platform support; Enterprise accounts only)."""

    enabled: bool


@message("identity.group.create", on=COMMANDS)
class CreateGroup(Message):
    """Create a hierarchy group (office or team) under an optional parent."""

    group_id: str = Id
    name: str = Id
    parent_group_id: str | None = Id


class MemberRow(BaseModel):
    user_id: str = Id
    email: EmailStr
    first_name: str = Id
    last_name: str = Id
    user_type: UserType
    activation: Activation | None = None
    group_id: str | None = OptionalId
    role: str = Id


@message("identity.member.add", on=COMMANDS)
class AddMember(MemberRow, Message):
    """Add one member; platform users choose an activation mode. By an account admin (`by_user_id`)."""

    by_user_id: str | None = ByUser


@message("identity.member.import", on=COMMANDS)
class ImportMembers(Message):
    """Bulk import (the CSV path); each row is a member.add payload, answered row by row."""

    rows: list[dict] = Field(min_length=1, max_length=MAX_IMPORT_ROWS)
    by_user_id: str | None = ByUser


@message("identity.member.convert", on=COMMANDS)
class ConvertMember(Message):
    """Turn a display-only member into a platform user, with every choice of adding a new one:
    activation, group, role and personal details (each left as it is when absent)."""

    user_id: str = Id
    activation: Activation
    group_id: str | None = OptionalId
    role: str | None = OptionalId
    email: EmailStr | None = None
    first_name: str | None = OptionalId
    last_name: str | None = OptionalId
    by_user_id: str | None = ByUser


@message("identity.member.deactivate", on=COMMANDS)
class DeactivateMember(Message):
    """Deactivate a member; their seat is released."""

    user_id: str = Id
    by_user_id: str | None = ByUser


@message("identity.member.reactivate", on=COMMANDS)
class ReactivateMember(Message):
    """Reactivate a member by the process they were first activated with, or by `activation` when
    the admin chooses another (an opt-in member once the account's opt-in is switched off)."""

    user_id: str = Id
    activation: Activation | None = None
    by_user_id: str | None = ByUser


@message("identity.invitation.resend", on=COMMANDS)
class ResendInvitation(Message):
    """Send a fresh invitation; the previous link stops working."""

    user_id: str = Id
    by_user_id: str | None = ByUser


@message("identity.invitation.accept", on=COMMANDS)
class AcceptInvitation(Message):
    """Accept an invitation by its token (what the e-mail link does)."""

    token: str = Id


@message("identity.member.complete_onboarding", on=COMMANDS)
class CompleteOnboarding(Message):
    """The member set a phone and a password: pending_activation -> active. The phone (E.164) is
    the user's personal number, the same on every instance they belong to."""

    user_id: str = Id
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")



@message("identity.instance.purchase", on=COMMANDS)
class PurchaseInstance(Message):
    """Buy a private instance (a Team account) for a member of an Enterprise account (PI1, PI2).

    The buyer must be able to sign in (status `active`); a user owns at most one. "Both CRM+IDX
    options offer a Lofty website and one (1) MLS": an IDX package names its MLS (`mls_id`;
    without it `mls_required`); `crm_only` has none (`mls_not_available`)."""

    buyer_user_id: str = Field(min_length=1, max_length=200)
    package: Package
    name: str = Field(min_length=1, max_length=200)
    mls_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


@message("identity.instance.rename", on=COMMANDS)
class RenameInstance(Message):
    """Rename a private instance; only its owner may (PI4)."""

    instance_id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    by_user_id: str | None = ByUser


@message("identity.instance.transfer_ownership", on=COMMANDS)
class TransferInstanceOwnership(Message):
    """Hand a private instance to another user of the Enterprise account who can sign in and owns
    no instance yet (`instance_already_owned` otherwise). By an account admin (how a frozen
    instance, whose owner was deactivated, gets running again) or by the owner."""

    instance_id: str = Field(min_length=1, max_length=200)
    to_user_id: str = Field(min_length=1, max_length=200)
    by_user_id: str | None = ByUser


@message("identity.instance.cancel", on=COMMANDS)
class CancelInstance(Message):
    """Close a private instance: no further charges, its leads read-only for 30 days, its members
    told. By its owner or an account admin."""

    instance_id: str = Field(min_length=1, max_length=200)
    by_user_id: str | None = ByUser


@message("identity.instance.invite", on=COMMANDS)
class InviteToInstance(Message):
    """The owner (or an admin member) invites a member of their Enterprise account into their
    private instance (PI3) with a permission profile: `role` is `admin`, `lead_manager` or
    `agent` (anything else: `unknown_role`)."""

    instance_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100)
    by_user_id: str | None = ByUser


@message("identity.instance.join", on=COMMANDS)
class JoinInstance(Message):
    """An invited member joins the instance (what accepting the instance invitation does)."""

    instance_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)


@message("identity.instance.remove_member", on=COMMANDS)
class RemoveInstanceMember(Message):
    """The owner removes a member from their private instance."""

    instance_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    by_user_id: str | None = ByUser


@message("identity.instance.set_role", on=COMMANDS)
class SetInstanceRole(Message):
    """The owner (or an admin member) changes a member's permission profile in their private
    instance: `admin` (everything the owner may but buy or close it), `lead_manager` (lead
    organisation and routing rules), `agent` (their own leads); anything else: `unknown_role`."""

    instance_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100)
    by_user_id: str | None = ByUser


@message("identity.api_key.issue", on=COMMANDS)
class IssueApiKey(Message):
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
class RevokeApiKey(Message):
    """Revoke an API key of an instance; only its owner may."""

    instance_id: str = Field(min_length=1, max_length=200)
    key_id: str = Field(min_length=1, max_length=200)
    by_user_id: str | None = ByUser
