"""Invitation links (AO8): single-use, unguessable, expiring, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from crm_contracts.common import Refused
from crm_contracts.identity import InvitationKind


DEFAULT_TTL = timedelta(days=7)


class State(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"


class InvitationError(Refused):
    """A rule broken; the runtime answers it with `<service>.command.rejected`."""


# A distinct reason for each way a link can be bad, so support can tell people why.
_REFUSAL = {
    State.ACCEPTED: ("invitation_already_used", "this invitation link was already used"),
    State.SUPERSEDED: ("invitation_superseded", "a newer invitation replaced this link"),
    State.REVOKED: ("invitation_revoked", "this invitation was withdrawn"),
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Invitation:
    invitation_id: str
    account_id: str
    user_id: str
    kind: InvitationKind
    token_hash: str
    state: State
    expires_at: datetime
    instance_id: str | None = None  # instance invitations: the instance joined on acceptance
    role: str | None = None

    def accept(self, now: datetime) -> Invitation:
        if self.state in _REFUSAL:
            raise InvitationError(*_REFUSAL[self.state])
        if now >= self.expires_at:
            raise InvitationError("invitation_expired", f"this invitation expired at {self.expires_at:%Y-%m-%d %H:%M} UTC")
        return replace(self, state=State.ACCEPTED)


def issue(account_id: str, user_id: str, kind: InvitationKind, now: datetime, *,
          invitation_id: str, ttl: timedelta = DEFAULT_TTL, instance_id: str | None = None, role: str | None = None,
          new_token: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> tuple[Invitation, str]:
    """A new invitation and its token; the token is returned once and never stored. The token is
    the one value drawn at random (256 bits from the OS): it is the secret a link carries, so it must
    not follow from anything on a topic."""
    token = new_token()
    invitation = Invitation(invitation_id=invitation_id, account_id=account_id, user_id=user_id,
                            kind=kind, token_hash=hash_token(token), state=State.PENDING,
                            expires_at=now + ttl, instance_id=instance_id, role=role)
    return invitation, token
