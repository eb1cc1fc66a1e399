"""Private instances (PI1–PI4, PI11): who may buy, what each package allows, who may manage one."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from crm_contracts.common import Refused
from crm_contracts.identity import MemberStatus, Package, UserType

from .accounts import parsing_email

OWNER_ROLE = "owner"
API_KEY_PREFIX = "crmk_"
# The permission profiles an owner gives the members of their private instance: `admin` may do
# everything the owner may but buy or close it; `lead_manager` organises leads and sets routing
# rules (routing enforces that); `agent` works their own leads.
ADMIN, LEAD_MANAGER, AGENT = "admin", "lead_manager", "agent"
PROFILES = (ADMIN, LEAD_MANAGER, AGENT)


class InstanceError(Refused):
    """A rule broken; the runtime answers it with `<service>.command.rejected`."""


@dataclass(frozen=True)
class Capabilities:
    website: bool
    routing: bool
    members_allowed: bool


CAPABILITIES = {
    Package.CRM_ONLY: Capabilities(website=False, routing=True, members_allowed=True),
    Package.CRM_IDX_SOLO: Capabilities(website=True, routing=False, members_allowed=False),
    Package.CRM_IDX_TEAM: Capabilities(website=True, routing=True, members_allowed=True),
}

# Why someone who is in the account still may not buy or be invited: they cannot sign in.
_CANNOT_SIGN_IN = {
    MemberStatus.DISPLAY_ONLY: ("display_only_member", "display-only members have no access to the CRM"),
    MemberStatus.PENDING_OPT_IN: ("member_pending", "has not accepted their invitation yet"),
    MemberStatus.PENDING_SEAT: ("member_pending", "is waiting for a seat"),
    MemberStatus.PENDING_ACTIVATION: ("member_pending", "has not finished onboarding"),
    MemberStatus.SEAT_UNAVAILABLE: ("member_pending", "has no seat"),
    MemberStatus.INACTIVE: ("member_inactive", "is deactivated"),
}


READ_ONLY_DAYS = 30  # a cancelled instance's leads stay readable this long

# The statuses of members who can sign in, and so may be invited into an instance.
SIGN_IN_STATUSES = tuple(s.value for s in MemberStatus if s not in _CANNOT_SIGN_IN)
# Who, besides the owner, may see whom the instance could invite: its `admin` members.
INSTANCE_ADMIN_ROLE = ADMIN


def check_profile(role: str) -> None:
    if role not in PROFILES:
        raise InstanceError("unknown_role", f"a member's role is one of {', '.join(PROFILES)}, not {role!r}")


def check_can_sign_in(user_id: str, user_type: UserType | None, status: MemberStatus | None) -> None:
    """Raise unless the user is an active platform member (the account owner counts as one)."""
    if status is None:
        raise InstanceError("not_a_member", f"{user_id} is not a member of this Enterprise account")
    if user_type is UserType.DISPLAY_ONLY:
        status = MemberStatus.DISPLAY_ONLY
    if status in _CANNOT_SIGN_IN:
        reason, why = _CANNOT_SIGN_IN[status]
        raise InstanceError(reason, f"{user_id} {why}" if reason != "display_only_member" else why)


@dataclass(frozen=True)
class Instance:
    instance_id: str
    account_id: str
    kind: str  # enterprise | private
    owner_user_id: str
    package: str
    name: str
    parsing_email: str
    website_id: str | None
    status: str = "active"  # active | frozen (owner deactivated) | cancelled
    mls_id: str | None = None

    @property
    def capabilities(self) -> Capabilities | None:
        return CAPABILITIES.get(Package(self.package)) if self.kind == "private" else None

    def check_open(self) -> None:
        if self.status == "cancelled":
            raise InstanceError("instance_cancelled", f"{self.instance_id} was cancelled; its leads are read-only")

    def check_invitable(self) -> None:
        """No one joins a cancelled instance, nor a frozen one until it has an owner who can run it."""
        self.check_open()
        if self.status == "frozen":
            raise InstanceError("instance_frozen", f"{self.instance_id}'s owner is deactivated: an account admin "
                                "hands it to another member or cancels it first")

    def check_accepts_members(self) -> None:
        caps = self.capabilities
        if caps is not None and not caps.members_allowed:
            raise InstanceError("solo_instance_has_no_members",
                                f"a {self.package} instance is for its owner only")


def check_mls(package: Package, mls_id: str | None) -> None:
    """An IDX package (one with a website) comes with exactly one MLS; `crm_only` with none."""
    if CAPABILITIES[package].website and mls_id is None:
        raise InstanceError("mls_required", f"a {package.value} instance comes with one MLS: name it (mls_id)")
    if not CAPABILITIES[package].website and mls_id is not None:
        raise InstanceError("mls_not_available", f"a {package.value} instance has no website, so no MLS")


def new_instance(account_id: str, owner_user_id: str, package: Package, name: str,
                 mls_id: str | None = None, *, instance_id: str, website_id: str) -> Instance:
    """A private instance named `instance_id`, with the website `website_id` when its package has one."""
    website = CAPABILITIES[package].website
    return Instance(instance_id=instance_id, account_id=account_id, kind="private", owner_user_id=owner_user_id,
                    package=package.value, name=name, parsing_email=parsing_email(instance_id),
                    website_id=website_id if website else None, mls_id=mls_id)


def addresses(user_id: str, instance_id: str) -> tuple[str, str]:
    """The (user, instance) pair's own sending and lead-capture addresses (PI11). Derived, so a
    rebuilt database names the same addresses; the user id is hashed to keep it out of headers."""
    tag = hashlib.sha256(f"{user_id}/{instance_id}".encode()).hexdigest()[:12]
    return f"{tag}.{instance_id}@send.crm.example", f"leads+{tag}.{instance_id}@parse.crm.example"


@dataclass(frozen=True)
class NewKey:
    key: str  # shown once, never stored
    key_id: str
    key_hash: str
    last_four: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> NewKey:
    """A recognisable prefix and 256 bits from the OS's CSPRNG (43 URL-safe characters)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(key=key, key_id="key_" + uuid.uuid4().hex[:16], key_hash=hash_key(key), last_four=key[-4:])
