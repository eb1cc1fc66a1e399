"""Members and their status machine (AO3–AO7, AO9–AO11)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from crm_contracts.common import Refused
from crm_contracts.identity import Activation, MemberRow, MemberStatus, UserType
# What can happen to a member: the contract's moves, whose values are the published reasons.
from crm_contracts.identity import MemberMove as Move


S = MemberStatus

# Account roles that administer an account besides its owner (member roles are free text; these are
# the ones the product gives account-wide reading rights). Identity alone applies this rule: it
# publishes its answer as `administers_account` on `identity.member.added`.
ACCOUNT_ADMIN_ROLES = frozenset({"admin", "owner"})


def administers_account(role: str | None) -> bool:
    """Whether a member with this role administers the account (while active)."""
    return (role or "").strip().lower() in ACCOUNT_ADMIN_ROLES


class MemberError(Refused):
    """A rule broken; the runtime answers it with `<service>.command.rejected`."""


# Statuses in which a member holds (or is about to hold) a seat.
SEATED = {S.PENDING_ACTIVATION, S.ACTIVE}

_FROM: dict[Move, set[MemberStatus]] = {
    Move.OPT_IN_ACCEPTED: {S.PENDING_OPT_IN},
    Move.SEAT_RESERVED: {S.PENDING_SEAT},
    Move.SEAT_DENIED: {S.PENDING_SEAT},
    Move.ONBOARDING_COMPLETED: {S.PENDING_ACTIVATION},
    Move.DEACTIVATED: {S.PENDING_OPT_IN, S.PENDING_SEAT, S.PENDING_ACTIVATION, S.ACTIVE, S.SEAT_UNAVAILABLE},
    Move.REACTIVATED: {S.INACTIVE, S.SEAT_UNAVAILABLE},
    Move.CONVERTED: {S.DISPLAY_ONLY},
}


def entry_status(activation: Activation) -> MemberStatus:
    """Where a platform user starts: waiting for a seat, or for their own opt-in."""
    return S.PENDING_OPT_IN if activation is Activation.OPT_IN else S.PENDING_SEAT


@dataclass(frozen=True)
class Member:
    account_id: str
    user_id: str
    email: str
    first_name: str
    last_name: str
    user_type: UserType
    activation: Activation | None
    status: MemberStatus
    group_id: str | None
    role: str

    @property
    def administers_account(self) -> bool:
        return administers_account(self.role)

    def move(self, move: Move, activation: Activation | None = None) -> Member:
        if self.status not in _FROM[move]:
            raise MemberError("invalid_status",
                              f"member {self.user_id} is {self.status.value}; cannot apply {move.value}")
        if move is Move.OPT_IN_ACCEPTED:
            return replace(self, status=S.PENDING_SEAT)
        if move is Move.SEAT_RESERVED:
            return replace(self, status=S.PENDING_ACTIVATION)
        if move is Move.SEAT_DENIED:
            return replace(self, status=S.SEAT_UNAVAILABLE)
        if move is Move.ONBOARDING_COMPLETED:
            return replace(self, status=S.ACTIVE)
        if move is Move.DEACTIVATED:
            return replace(self, status=S.INACTIVE)
        if move is Move.REACTIVATED:
            assert self.activation is not None
            chosen = activation or self.activation  # the original process unless the admin chose another
            if self.status is S.SEAT_UNAVAILABLE and chosen is self.activation:
                # Waiting for a seat (an immediate add, or an opt-in already accepted that the account's
                # limits stopped): ask for one again, without a second invitation to accept.
                return replace(self, status=S.PENDING_SEAT)
            return replace(self, activation=chosen, status=entry_status(chosen))
        assert activation is not None  # CONVERTED
        return replace(self, user_type=UserType.PLATFORM, activation=activation,
                       status=entry_status(activation))


def check_activation(account_id: str, activation: Activation | None, *, opt_in_enabled: bool,
                     way_out: str = "") -> None:
    """Opt-in activation only while the account has opt-in enabled (AO1)."""
    if activation is Activation.OPT_IN and not opt_in_enabled:
        raise MemberError("opt_in_not_enabled", f"agent opt-in is not enabled on account {account_id}{way_out}")


def new_member(account_id: str, row: MemberRow, *, opt_in_enabled: bool) -> Member:
    if row.user_type is UserType.DISPLAY_ONLY:
        activation, status = None, S.DISPLAY_ONLY
    else:
        if row.activation is None:
            raise MemberError("activation_required", "a platform user needs activation immediate or opt_in")
        activation = row.activation
        status = entry_status(activation)
    check_activation(account_id, activation, opt_in_enabled=opt_in_enabled)
    return Member(account_id=account_id, user_id=row.user_id, email=str(row.email),
                  first_name=row.first_name, last_name=row.last_name, user_type=row.user_type,
                  activation=activation, status=status, group_id=row.group_id, role=row.role)
