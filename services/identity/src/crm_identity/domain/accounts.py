"""Accounts: the tenants. An account is created once; asking again with other data is refused."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from crm_contracts.identity import CreateAccount, Tier

_INSTANCE_NAMESPACE = uuid.UUID("6f1c1f44-3a5e-4f0e-9a57-6d1b3c6c2a10")


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    tier: Tier
    owner_user_id: str
    owner_email: str
    owner_first_name: str
    owner_last_name: str
    enterprise_instance_id: str
    opt_in_enabled: bool = False

    @property
    def website_id(self) -> str:
        """The account's own website: its leads belong to the Enterprise instance (PI6)."""
        return website_id(self.enterprise_instance_id)

    @property
    def parsing_email(self) -> str:
        return parsing_email(self.enterprise_instance_id)

    def same_request(self, cmd: CreateAccount) -> bool:
        """True when `cmd` asks for exactly this account (a retry, not a conflict)."""
        return (self.name, self.tier, self.owner_user_id, self.owner_email.lower()) == (
            cmd.name, cmd.tier, cmd.owner.user_id, cmd.owner.email.lower())


def enterprise_instance_id(account_id: str) -> str:
    """Derived, not random: re-running account creation must name the same instance."""
    return "ins_" + uuid.uuid5(_INSTANCE_NAMESPACE, account_id).hex[:16]


def website_id(instance_id: str) -> str:
    """The website of an account's own (Enterprise) instance: derived, so a rebuilt database and
    the migration that gave existing accounts theirs name the same one."""
    return "web_" + hashlib.sha256(f"website/{instance_id}".encode()).hexdigest()[:16]


def parsing_email(instance_id: str) -> str:
    """The unique address whose incoming mail becomes leads of this instance (PI6, PI11)."""
    return f"leads+{instance_id}@parse.crm.example"


def open_account(cmd: CreateAccount) -> Account:
    return Account(
        account_id=cmd.account_id,
        name=cmd.name,
        tier=cmd.tier,
        owner_user_id=cmd.owner.user_id,
        owner_email=cmd.owner.email,
        owner_first_name=cmd.owner.first_name,
        owner_last_name=cmd.owner.last_name,
        enterprise_instance_id=enterprise_instance_id(cmd.account_id),
    )
