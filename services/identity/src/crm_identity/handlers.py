"""One function per identity command or seats event: load, decide, save, emit."""

from __future__ import annotations

from dataclasses import replace

from pydantic import ValidationError

from crm_contracts import now
from crm_contracts.common import IMPORT_RESULTS_PER_EVENT
from crm_contracts.identity import (
    AcceptInvitation,
    AccountCreated,
    Activation,
    AddMember,
    CompleteOnboarding,
    ConvertMember,
    CreateAccount,
    CreateGroup,
    DeactivateMember,
    InstanceCreated,
    InstanceMemberJoined,
    InstanceMemberRemoved,
    InstanceMemberRoleChanged,
    InstanceRenamed,
    InviteToInstance,
    IssueApiKey,
    JoinInstance,
    ApiKeyIssued,
    ApiKeyRevoked,
    PurchaseInstance,
    RemoveInstanceMember,
    RenameInstance,
    RevokeApiKey,
    SetInstanceRole,
    UserType,
    GroupCreated,
    ImportMembers,
    ImportRowResult,
    InvitationAccepted,
    InvitationIssued,
    InvitationKind,
    MemberAdded,
    MemberImportCompleted,
    MemberRow,
    MemberStatus,
    MemberStatusChanged,
    OptInChanged,
    OwnerAlerted,
    ReactivateMember,
    ResendInvitation,
    SetOptIn,
    Tier,
)
from crm_contracts.seats import SeatDenied, SeatReserved
from crm_runtime.handling import HandlerContext, Handlers, Rejected

from . import repository
from .domain.accounts import Account, open_account, parsing_email
from .domain.instances import (
    OWNER_ROLE,
    Instance,
    addresses,
    check_can_sign_in,
    new_instance,
)
from .domain.invitations import Invitation, State, hash_token, issue
from .domain.members import Member, Move, new_member
from .settings import IdentitySettings

handlers = Handlers()


# --- building blocks ------------------------------------------------------------------------


async def _account(ctx: HandlerContext, *, for_update: bool = True) -> Account:
    account = await repository.get_account(ctx.conn, ctx.message.accountid, for_update=for_update)
    if account is None:
        raise Rejected("unknown_account", f"account {ctx.message.accountid} does not exist")
    return account


async def _member(ctx: HandlerContext, user_id: str) -> Member:
    member = await repository.get_member(ctx.conn, ctx.message.accountid, user_id, for_update=True)
    if member is None:
        raise Rejected("unknown_member", f"no member {user_id} in account {ctx.message.accountid}")
    return member


async def _check_group(ctx: HandlerContext, group_id: str | None) -> None:
    if group_id is not None and await repository.get_group(ctx.conn, ctx.message.accountid, group_id) is None:
        raise Rejected("unknown_group", f"group {group_id} does not exist in account {ctx.message.accountid}")


async def _move(ctx: HandlerContext, account: Account, member: Member, move: Move,
                activation: Activation | None = None, reason: str | None = None) -> Member:
    moved = member.move(move, activation)
    await repository.save_member(ctx.conn, moved)
    await ctx.emit(MemberStatusChanged(user_id=member.user_id, instance_id=account.enterprise_instance_id,
                                       from_status=member.status, to_status=moved.status,
                                       reason=reason or move.value), subject=member.user_id)
    return moved


async def _invite(ctx: HandlerContext, account: Account, member: Member, kind: InvitationKind, *,
                  instance: Instance | None = None, role: str | None = None) -> None:
    """Issue a fresh invitation; any earlier pending link of the member (to the account, or to
    `instance`) stops working."""
    settings: IdentitySettings = ctx.settings  # type: ignore[assignment] - identity's Service is built with them
    instance_id = instance.instance_id if instance else None
    await repository.close_pending_invitations(ctx.conn, account.account_id, member.user_id, State.SUPERSEDED,
                                               instance_id=instance_id)
    invitation, token = issue(account.account_id, member.user_id, kind, now(), ttl=settings.invitation_ttl,
                              instance_id=instance_id, role=role)
    await repository.insert_invitation(ctx.conn, invitation)
    await ctx.emit(InvitationIssued(
        user_id=member.user_id, invitation_id=invitation.invitation_id, kind=kind,
        accept_page_url=f"{settings.base_url()}/invitations/accept", sealed_token=settings.sealer.seal(token),
        expires_at=invitation.expires_at, email=member.email, first_name=member.first_name,
        account_name=account.name, instance_id=instance_id, role=role),
        subject=member.user_id, **({"instanceid": instance_id} if instance_id else {}))


async def _add(ctx: HandlerContext, account: Account, row: MemberRow) -> Member:
    if await repository.get_member(ctx.conn, account.account_id, row.user_id) is not None:
        raise Rejected("member_already_exists", f"member {row.user_id} already exists")
    if await repository.email_taken(ctx.conn, account.account_id, str(row.email)):
        raise Rejected("duplicate_email", f"{row.email} already belongs to a member of this account")
    await _check_group(ctx, row.group_id)
    member = new_member(account.account_id, row, opt_in_enabled=account.opt_in_enabled)
    await repository.insert_member(ctx.conn, member)
    await ctx.emit(MemberAdded(user_id=member.user_id, user_type=member.user_type, activation=member.activation,
                               status=member.status, group_id=member.group_id, email=member.email,
                               first_name=member.first_name, last_name=member.last_name, role=member.role),
                   subject=member.user_id, instanceid=account.enterprise_instance_id)
    if member.status is MemberStatus.PENDING_OPT_IN:
        await _invite(ctx, account, member, InvitationKind.OPT_IN)
    return member


async def _person(ctx: HandlerContext, account: Account, user_id: str) -> Member:
    """A user of the account: a member, or the account's owner (who is not a `members` row)."""
    member = await repository.get_member(ctx.conn, account.account_id, user_id)
    if member is not None:
        return member
    if user_id == account.owner_user_id:
        return Member(account_id=account.account_id, user_id=user_id, email=account.owner_email,
                      first_name=account.owner_first_name, last_name=account.owner_last_name,
                      user_type=UserType.PLATFORM, activation=Activation.IMMEDIATE, status=MemberStatus.ACTIVE,
                      group_id=None, role="owner")
    raise Rejected("not_a_member", f"{user_id} is not a member of Enterprise account {account.account_id}")


async def _who_can_sign_in(ctx: HandlerContext, account: Account, user_id: str) -> Member:
    person = await _person(ctx, account, user_id)
    check_can_sign_in(user_id, person.user_type, person.status)
    return person


async def _instance(ctx: HandlerContext, instance_id: str, *, for_update: bool = False) -> Instance:
    instance = await repository.get_instance(ctx.conn, instance_id, for_update=for_update)
    # Another account's instance is as unknown here as one that does not exist.
    if instance is None or instance.account_id != ctx.message.accountid:
        raise Rejected("unknown_instance", f"no instance {instance_id} in account {ctx.message.accountid}")
    return instance


async def _owned(ctx: HandlerContext, instance_id: str, by_user_id: str | None) -> Instance:
    instance = await _instance(ctx, instance_id, for_update=True)
    instance.check_owner(by_user_id)
    return instance


async def _join(ctx: HandlerContext, instance: Instance, user_id: str, role: str) -> None:
    sending, capture = addresses(user_id, instance.instance_id)
    if await repository.add_instance_member(ctx.conn, instance, user_id, role, sending, capture):
        await ctx.emit(InstanceMemberJoined(instance_id=instance.instance_id, user_id=user_id, role=role,
                                            sending_email=sending, capture_email=capture),
                       subject=user_id, instanceid=instance.instance_id)


def _account_created(account: Account) -> AccountCreated:
    return AccountCreated(account_id=account.account_id, tier=account.tier,
                          enterprise_instance_id=account.enterprise_instance_id,
                          owner_user_id=account.owner_user_id, name=account.name,
                          owner_email=account.owner_email, owner_first_name=account.owner_first_name)


# --- accounts and groups ----------------------------------------------------------------------


@handlers.on(CreateAccount)
async def create_account(ctx: HandlerContext, cmd: CreateAccount) -> None:
    if cmd.account_id != ctx.message.accountid:
        raise Rejected("account_id_mismatch",
                       f"data.account_id {cmd.account_id!r} differs from accountid {ctx.message.accountid!r}")
    account = open_account(cmd)
    if await repository.insert_account(ctx.conn, account, parsing_email(account.enterprise_instance_id)):
        await ctx.emit(_account_created(account), subject=account.account_id)
        return
    existing = await repository.get_account(ctx.conn, cmd.account_id)
    assert existing is not None
    if not existing.same_request(cmd):
        raise Rejected("account_already_exists", f"account {cmd.account_id} already exists with other data")
    # A retry with a new command id: answer it again, change nothing.
    await ctx.emit(_account_created(existing), subject=existing.account_id)


@handlers.on(SetOptIn)
async def set_opt_in(ctx: HandlerContext, cmd: SetOptIn) -> None:
    account = await _account(ctx)
    if cmd.enabled and account.tier is not Tier.ENTERPRISE:
        raise Rejected("opt_in_requires_enterprise", "agent opt-in can be enabled only on Enterprise accounts")
    await repository.set_opt_in(ctx.conn, account.account_id, cmd.enabled)
    await ctx.emit(OptInChanged(account_id=account.account_id, enabled=cmd.enabled))


@handlers.on(CreateGroup)
async def create_group(ctx: HandlerContext, cmd: CreateGroup) -> None:
    account = await _account(ctx)
    if account.tier is not Tier.ENTERPRISE:
        raise Rejected("groups_require_enterprise", "hierarchy groups exist only on Enterprise accounts")
    if ctx.message.instanceid not in (None, account.enterprise_instance_id):
        await _instance(ctx, ctx.message.instanceid)  # unknown_instance, if so
        raise Rejected("groups_not_allowed_on_private_instance",
                       "a private instance is a Team account: it has no hierarchy groups")
    existing = await repository.get_group(ctx.conn, account.account_id, cmd.group_id)
    if existing is not None:
        if (existing["name"], existing["parent_group_id"]) != (cmd.name, cmd.parent_group_id):
            raise Rejected("group_already_exists", f"group {cmd.group_id} already exists with other data")
    else:
        await _check_group(ctx, cmd.parent_group_id)
        await repository.insert_group(ctx.conn, account.account_id, cmd.group_id, cmd.name, cmd.parent_group_id)
    await ctx.emit(GroupCreated(group_id=cmd.group_id, name=cmd.name, parent_group_id=cmd.parent_group_id))


# --- members ----------------------------------------------------------------------------------


@handlers.on(AddMember)
async def add_member(ctx: HandlerContext, cmd: AddMember) -> None:
    await _add(ctx, await _account(ctx), cmd)


@handlers.on(ImportMembers)
async def import_members(ctx: HandlerContext, cmd: ImportMembers) -> None:
    """Each row stands alone: a bad row is refused with its reason, the others proceed (AO5)."""
    account = await _account(ctx)
    results: list[ImportRowResult] = []
    seen_emails: set[str] = set()
    for number, raw in enumerate(cmd.rows, start=1):
        user_id = raw.get("user_id") if isinstance(raw, dict) else None
        user_id = user_id[:200] if isinstance(user_id, str) else None  # echoed back, whatever was sent
        try:
            try:
                row = MemberRow.model_validate(raw)
            except ValidationError as exc:
                fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
                raise Rejected("invalid_row", f"invalid {fields}") from None
            if row.activation is Activation.OPT_IN:
                raise Rejected("opt_in_not_available_for_import",
                               "opt-in activation cannot be used in a bulk import; add the member singly")
            if str(row.email).lower() in seen_emails:
                raise Rejected("duplicate_email", f"{row.email} appears more than once in this import")
            seen_emails.add(str(row.email).lower())
            async with ctx.conn.transaction():  # a savepoint: a refused row leaves no trace
                await _add(ctx, account, row)
            results.append(ImportRowResult(row=number, user_id=row.user_id, outcome="added"))
        except Rejected as refused:
            results.append(ImportRowResult(row=number, user_id=user_id, outcome="rejected",
                                           reason=refused.reason, message=refused.message))
    step = IMPORT_RESULTS_PER_EVENT
    parts = max(1, -(-len(results) // step))
    for part in range(parts):
        await ctx.emit(MemberImportCompleted(results=results[part * step:(part + 1) * step], part=part + 1,
                                             parts=parts))


@handlers.on(ConvertMember)
async def convert_member(ctx: HandlerContext, cmd: ConvertMember) -> None:
    account = await _account(ctx)
    member = await _member(ctx, cmd.user_id)
    if cmd.activation is Activation.OPT_IN and not account.opt_in_enabled:
        raise Rejected("opt_in_not_enabled", f"agent opt-in is not enabled on account {account.account_id}")
    if cmd.group_id is not None:
        await _check_group(ctx, cmd.group_id)
        member = replace(member, group_id=cmd.group_id)
    converted = await _move(ctx, account, member, Move.CONVERTED, cmd.activation)
    if cmd.activation is Activation.OPT_IN:
        await _invite(ctx, account, converted, InvitationKind.OPT_IN)


@handlers.on(DeactivateMember)
async def deactivate_member(ctx: HandlerContext, cmd: DeactivateMember) -> None:
    account = await _account(ctx)
    member = await _member(ctx, cmd.user_id)
    await _move(ctx, account, member, Move.DEACTIVATED)
    await repository.close_pending_invitations(ctx.conn, account.account_id, member.user_id, State.REVOKED,
                                               everywhere=True)
    # PI3: deactivated in the Enterprise account means out of every private instance; coming
    # back (reactivation) takes a new invitation from each owner.
    for left in await repository.leave_private_instances(ctx.conn, account.account_id, member.user_id):
        await ctx.emit(InstanceMemberRemoved(instance_id=left["instance_id"], user_id=member.user_id,
                                             role=left["role"], reason="member_deactivated"),
                       subject=member.user_id, instanceid=left["instance_id"])


@handlers.on(ReactivateMember)
async def reactivate_member(ctx: HandlerContext, cmd: ReactivateMember) -> None:
    account = await _account(ctx)
    member = await _member(ctx, cmd.user_id)
    if member.activation is Activation.OPT_IN and not account.opt_in_enabled:
        raise Rejected("opt_in_not_enabled", f"agent opt-in is no longer enabled on account {account.account_id}")
    moved = await _move(ctx, account, member, Move.REACTIVATED)
    if moved.status is MemberStatus.PENDING_OPT_IN:
        await _invite(ctx, account, moved, InvitationKind.OPT_IN)


@handlers.on(CompleteOnboarding)
async def complete_onboarding(ctx: HandlerContext, cmd: CompleteOnboarding) -> None:
    account = await _account(ctx)
    await _move(ctx, account, await _member(ctx, cmd.user_id), Move.ONBOARDING_COMPLETED)
    if cmd.phone is not None:
        await repository.set_phone(ctx.conn, account.account_id, cmd.user_id, cmd.phone)


# --- invitations ------------------------------------------------------------------------------


@handlers.on(ResendInvitation)
async def resend_invitation(ctx: HandlerContext, cmd: ResendInvitation) -> None:
    account = await _account(ctx)
    member = await _member(ctx, cmd.user_id)
    kinds = {MemberStatus.PENDING_OPT_IN: InvitationKind.OPT_IN,
             MemberStatus.PENDING_ACTIVATION: InvitationKind.STANDARD}
    if member.status not in kinds:
        raise Rejected("nothing_to_resend", f"member {member.user_id} is {member.status.value}; no invitation is due")
    await _invite(ctx, account, member, kinds[member.status])


async def _accept(ctx: HandlerContext, invitation: Invitation) -> None:
    invitation.accept(now())
    account = await _account(ctx)
    if invitation.kind is InvitationKind.INSTANCE:
        assert invitation.instance_id is not None and invitation.role is not None
        person = await _person(ctx, account, invitation.user_id)
        await repository.mark_accepted(ctx.conn, invitation)
        await ctx.emit(InvitationAccepted(user_id=person.user_id, invitation_id=invitation.invitation_id,
                                          kind=invitation.kind), subject=person.user_id,
                       instanceid=invitation.instance_id)
        instance = await _instance(ctx, invitation.instance_id)
        await _join(ctx, instance, person.user_id, invitation.role)
        return
    member = await _member(ctx, invitation.user_id)
    await repository.mark_accepted(ctx.conn, invitation)
    await ctx.emit(InvitationAccepted(user_id=member.user_id, invitation_id=invitation.invitation_id,
                                      kind=invitation.kind), subject=member.user_id)
    if invitation.kind is InvitationKind.OPT_IN:
        await _move(ctx, account, member, Move.OPT_IN_ACCEPTED)


@handlers.on(AcceptInvitation)
async def accept_invitation(ctx: HandlerContext, cmd: AcceptInvitation) -> None:
    invitation = await repository.invitation_by_hash(ctx.conn, hash_token(cmd.token), for_update=True)
    if invitation is None or invitation.account_id != ctx.message.accountid:
        raise Rejected("invitation_not_found", "this invitation link is not valid")
    await _accept(ctx, invitation)


# --- private instances (PI1–PI4, PI11) -------------------------------------------------------


@handlers.on(PurchaseInstance)
async def purchase_instance(ctx: HandlerContext, cmd: PurchaseInstance) -> None:
    account = await _account(ctx)
    if account.tier is not Tier.ENTERPRISE:
        raise Rejected("enterprise_required", "private instances are bought by members of Enterprise accounts")
    buyer = await _who_can_sign_in(ctx, account, cmd.buyer_user_id)
    instance = new_instance(account.account_id, buyer.user_id, cmd.package, cmd.name)
    if not await repository.insert_instance(ctx.conn, instance):
        owned = await repository.owned_instance(ctx.conn, account.account_id, buyer.user_id)
        raise Rejected("instance_already_owned",
                       f"{buyer.user_id} already owns private instance {owned.instance_id if owned else ''}".strip())
    caps = instance.capabilities
    assert caps is not None
    await ctx.emit(InstanceCreated(instance_id=instance.instance_id, owner_user_id=buyer.user_id,
                                   package=instance.package, name=instance.name,
                                   parsing_email=instance.parsing_email, website_id=instance.website_id,
                                   routing=caps.routing, members_allowed=caps.members_allowed),
                   subject=buyer.user_id, instanceid=instance.instance_id)
    await _join(ctx, instance, buyer.user_id, OWNER_ROLE)


@handlers.on(RenameInstance)
async def rename_instance(ctx: HandlerContext, cmd: RenameInstance) -> None:
    instance = await _owned(ctx, cmd.instance_id, cmd.by_user_id)
    await repository.rename_instance(ctx.conn, instance.instance_id, cmd.name)
    await ctx.emit(InstanceRenamed(instance_id=instance.instance_id, name=cmd.name), instanceid=instance.instance_id)


@handlers.on(InviteToInstance)
async def invite_to_instance(ctx: HandlerContext, cmd: InviteToInstance) -> None:
    account = await _account(ctx)
    instance = await _owned(ctx, cmd.instance_id, cmd.by_user_id)
    instance.check_accepts_members()
    invitee = await _who_can_sign_in(ctx, account, cmd.user_id)
    if await repository.instance_role(ctx.conn, instance.instance_id, invitee.user_id) is not None:
        raise Rejected("already_instance_member", f"{invitee.user_id} is already a member of {instance.name}")
    pending = await repository.pending_instance_invitation(ctx.conn, instance.instance_id, invitee.user_id)
    if pending is not None and pending.expires_at > now():
        raise Rejected("already_invited", f"{invitee.user_id} has a pending invitation to {instance.name}")
    await _invite(ctx, account, invitee, InvitationKind.INSTANCE, instance=instance, role=cmd.role)


@handlers.on(JoinInstance)
async def join_instance(ctx: HandlerContext, cmd: JoinInstance) -> None:
    await _instance(ctx, cmd.instance_id)
    invitation = await repository.pending_instance_invitation(ctx.conn, cmd.instance_id, cmd.user_id)
    if invitation is None:
        raise Rejected("not_invited", f"{cmd.user_id} has no pending invitation to {cmd.instance_id}")
    await _accept(ctx, invitation)


@handlers.on(RemoveInstanceMember)
async def remove_instance_member(ctx: HandlerContext, cmd: RemoveInstanceMember) -> None:
    instance = await _owned(ctx, cmd.instance_id, cmd.by_user_id)
    if cmd.user_id == instance.owner_user_id:
        raise Rejected("cannot_remove_owner", "the owner cannot be removed from their instance")
    role = await repository.remove_instance_member(ctx.conn, instance.instance_id, cmd.user_id)
    if role is None:
        raise Rejected("not_instance_member", f"{cmd.user_id} is not a member of {instance.name}")
    await ctx.emit(InstanceMemberRemoved(instance_id=instance.instance_id, user_id=cmd.user_id, role=role,
                                         reason="removed_by_owner"),
                   subject=cmd.user_id, instanceid=instance.instance_id)


@handlers.on(SetInstanceRole)
async def set_instance_role(ctx: HandlerContext, cmd: SetInstanceRole) -> None:
    instance = await _owned(ctx, cmd.instance_id, cmd.by_user_id)
    if cmd.user_id == instance.owner_user_id:
        raise Rejected("cannot_change_owner_role", "the owner's role is owner")
    role = await repository.instance_role(ctx.conn, instance.instance_id, cmd.user_id)
    if role is None:
        raise Rejected("not_instance_member", f"{cmd.user_id} is not a member of {instance.name}")
    await repository.set_instance_role(ctx.conn, instance.instance_id, cmd.user_id, cmd.role)
    await ctx.emit(InstanceMemberRoleChanged(instance_id=instance.instance_id, user_id=cmd.user_id,
                                             from_role=role, role=cmd.role),
                   subject=cmd.user_id, instanceid=instance.instance_id)


@handlers.on(IssueApiKey)
async def issue_api_key(ctx: HandlerContext, cmd: IssueApiKey) -> None:
    instance = await _owned(ctx, cmd.instance_id, cmd.by_user_id)
    if cmd.key_hash is None or cmd.last_four is None or cmd.key_id is None:
        raise Rejected("key_hash_required",
                       "issue keys over identity's HTTP API (it shows the key once), or send key_id, "
                       "key_hash and last_four of a key you made")
    if not await repository.insert_api_key(ctx.conn, instance.instance_id, cmd.key_id, cmd.name, cmd.key_hash,
                                           cmd.last_four):
        raise Rejected("api_key_exists", f"a key with id {cmd.key_id} or this hash exists already")
    await ctx.emit(ApiKeyIssued(instance_id=instance.instance_id, key_id=cmd.key_id, key_hash=cmd.key_hash,
                                name=cmd.name, last_four=cmd.last_four), instanceid=instance.instance_id)


@handlers.on(RevokeApiKey)
async def revoke_api_key(ctx: HandlerContext, cmd: RevokeApiKey) -> None:
    instance = await _owned(ctx, cmd.instance_id, cmd.by_user_id)
    revoked = await repository.revoke_api_key(ctx.conn, instance.instance_id, cmd.key_id)
    if revoked is None:  # a key of another instance is unknown here too
        raise Rejected("unknown_api_key", f"instance {instance.instance_id} has no API key {cmd.key_id}")
    await ctx.emit(ApiKeyRevoked(instance_id=instance.instance_id, key_id=cmd.key_id, key_hash=revoked["key_hash"]),
                   instanceid=instance.instance_id)


# --- answers from the seats service -----------------------------------------------------------


@handlers.on(SeatReserved)
async def seat_reserved(ctx: HandlerContext, event: SeatReserved) -> None:
    account = await _account(ctx)
    member = await repository.get_member(ctx.conn, account.account_id, event.user_id, for_update=True)
    if member is None:
        return
    if member.status is MemberStatus.INACTIVE:
        # Deactivated while the seat was on its way: say so again, and seats gives it back.
        await ctx.emit(MemberStatusChanged(user_id=member.user_id, instance_id=account.enterprise_instance_id,
                                           from_status=member.status, to_status=member.status,
                                           reason="seat_not_needed"), subject=member.user_id)
        return
    if member.status is not MemberStatus.PENDING_SEAT:
        return  # already moved on; this reservation was answered before
    moved = await _move(ctx, account, member, Move.SEAT_RESERVED)
    if moved.activation is Activation.IMMEDIATE:
        await _invite(ctx, account, moved, InvitationKind.STANDARD)


@handlers.on(SeatDenied)
async def seat_denied(ctx: HandlerContext, event: SeatDenied) -> None:
    account = await _account(ctx)
    member = await repository.get_member(ctx.conn, account.account_id, event.user_id, for_update=True)
    if member is None or member.status is not MemberStatus.PENDING_SEAT:
        return
    await _move(ctx, account, member, Move.SEAT_DENIED, reason=event.reason)
    await ctx.emit(OwnerAlerted(
        owner_user_id=account.owner_user_id, owner_email=account.owner_email, alert=event.reason,
        user_id=member.user_id, member_name=f"{member.first_name} {member.last_name}",
        seats_used=event.seats_used, seats_total=event.seats_total,
        message=f"{member.first_name} {member.last_name} was added but no seat is free; "
                "buy seats, then reactivate the member."))
