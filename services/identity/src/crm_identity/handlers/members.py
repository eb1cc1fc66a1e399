"""Members: added one by one or by import, converted, deactivated, reactivated, onboarded."""

from __future__ import annotations

from dataclasses import replace

from pydantic import ValidationError

from crm_contracts.common import IMPORT_RESULTS_PER_EVENT
from crm_contracts.identity import (Activation, AddMember, CompleteOnboarding, ConvertMember, DeactivateMember,
                                    ImportMembers, ImportRowResult, InstanceMemberRemoved, InvitationKind,
                                    MemberAdded, MemberDetailsChanged, MemberImportCompleted, MemberRow, MemberStatus,
                                    ReactivateMember)
from crm_runtime.handlers import HandlerContext, Handlers, Rejected, as_refusal

from .. import repository
from ..domain.accounts import Account
from ..domain.instances import addresses
from ..domain.invitations import State
from ..domain.members import Member, Move, check_activation, new_member
from .common import check_group, invite, load_account, load_member, move
from .gate import permitted, system
from .instance_life import freeze_owned_instance

handlers = Handlers()


async def add(ctx: HandlerContext, account: Account, row: MemberRow, by_user_id: str | None) -> Member:
    if await repository.accounts.get_member(ctx.conn, account.account_id, row.user_id) is not None:
        raise Rejected("member_already_exists", f"member {row.user_id} already exists")
    if await repository.accounts.email_taken(ctx.conn, account.account_id, str(row.email)):
        raise Rejected("duplicate_email", f"{row.email} already belongs to a member of this account")
    await check_group(ctx, row.group_id)
    member = new_member(account.account_id, row, opt_in_enabled=account.opt_in_enabled)
    await repository.accounts.insert_member(ctx.conn, member)
    await ctx.emit(MemberAdded(user_id=member.user_id, user_type=member.user_type, activation=member.activation,
                               status=member.status, group_id=member.group_id, email=member.email,
                               first_name=member.first_name, last_name=member.last_name, role=member.role,
                               administers_account=member.administers_account,
                               capture_email=addresses(member.user_id, account.enterprise_instance_id)[1],
                               by_user_id=by_user_id),
                   subject=member.user_id, instanceid=account.enterprise_instance_id)
    if member.status is MemberStatus.PENDING_OPT_IN:
        await invite(ctx, account, member, InvitationKind.OPT_IN)
    return member


@handlers.on(AddMember)
async def add_member(ctx: HandlerContext, cmd: AddMember) -> None:
    await permitted(ctx, cmd.by_user_id)
    await add(ctx, await load_account(ctx), cmd, cmd.by_user_id)


@handlers.on(ImportMembers)
async def import_members(ctx: HandlerContext, cmd: ImportMembers) -> None:
    """Each row stands alone: a bad row is refused with its reason, the others proceed (AO5)."""
    await permitted(ctx, cmd.by_user_id)
    account = await load_account(ctx)
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
                await add(ctx, account, row, cmd.by_user_id)
            results.append(ImportRowResult(row=number, user_id=row.user_id, outcome="added"))
        except Exception as exc:
            if (refused := as_refusal(exc)) is None:  # the handler's or the domain's rule, alike
                raise
            results.append(ImportRowResult(row=number, user_id=user_id, outcome="rejected",
                                           reason=refused.reason, message=refused.message))
    step = IMPORT_RESULTS_PER_EVENT
    parts = max(1, -(-len(results) // step))
    for part in range(parts):
        await ctx.emit(MemberImportCompleted(results=results[part * step:(part + 1) * step], part=part + 1,
                                             parts=parts))


@handlers.on(ConvertMember)
async def convert_member(ctx: HandlerContext, cmd: ConvertMember) -> None:
    await permitted(ctx, cmd.by_user_id)
    account = await load_account(ctx)
    member = await load_member(ctx, cmd.user_id)
    check_activation(account.account_id, cmd.activation, opt_in_enabled=account.opt_in_enabled)
    if cmd.group_id is not None:
        await check_group(ctx, cmd.group_id)
        member = replace(member, group_id=cmd.group_id)
    details = {k: v for k, v in (("email", str(cmd.email) if cmd.email else None), ("first_name", cmd.first_name),
                                 ("last_name", cmd.last_name), ("role", cmd.role)) if v is not None}
    if details.get("email", member.email).lower() != member.email.lower() \
            and await repository.accounts.email_taken(ctx.conn, account.account_id, details["email"]):
        raise Rejected("duplicate_email", f"{details['email']} already belongs to a member of this account")
    if any(getattr(member, k) != v for k, v in details.items()):
        member = replace(member, **details)
        await repository.accounts.save_member_details(ctx.conn, member)
        await ctx.emit(MemberDetailsChanged(user_id=member.user_id, email=member.email, first_name=member.first_name,
                                            last_name=member.last_name, role=member.role,
                                            administers_account=member.administers_account, group_id=member.group_id,
                                            by_user_id=cmd.by_user_id),
                       subject=member.user_id, instanceid=account.enterprise_instance_id)
    converted = await move(ctx, account, member, Move.CONVERTED, cmd.activation, by_user_id=cmd.by_user_id)
    if cmd.activation is Activation.OPT_IN:
        await invite(ctx, account, converted, InvitationKind.OPT_IN)


@handlers.on(DeactivateMember)
async def deactivate_member(ctx: HandlerContext, cmd: DeactivateMember) -> None:
    await permitted(ctx, cmd.by_user_id)
    account = await load_account(ctx)
    member = await load_member(ctx, cmd.user_id)
    await move(ctx, account, member, Move.DEACTIVATED, by_user_id=cmd.by_user_id)
    await repository.invitations.close_pending_invitations(ctx.conn, account.account_id, member.user_id, State.REVOKED,
                                               everywhere=True)
    # PI3: deactivated in the Enterprise account means out of every private instance; coming
    # back (reactivation) takes a new invitation from each owner.
    for left in await repository.instances.leave_private_instances(ctx.conn, account.account_id, member.user_id):
        await ctx.emit(InstanceMemberRemoved(instance_id=left["instance_id"], user_id=member.user_id,
                                             role=left["role"], reason="member_deactivated"),
                       subject=member.user_id, instanceid=left["instance_id"])
    await freeze_owned_instance(ctx, account, member.user_id)


@handlers.on(ReactivateMember)
async def reactivate_member(ctx: HandlerContext, cmd: ReactivateMember) -> None:
    await permitted(ctx, cmd.by_user_id)
    account = await load_account(ctx)
    member = await load_member(ctx, cmd.user_id)
    chosen = cmd.activation or member.activation
    check_activation(account.account_id, chosen, opt_in_enabled=account.opt_in_enabled,
                     way_out="" if cmd.activation else
                     "; reactivate with activation=immediate, or enable opt-in again first")
    moved = await move(ctx, account, member, Move.REACTIVATED, cmd.activation, by_user_id=cmd.by_user_id)
    if moved.status is MemberStatus.PENDING_OPT_IN:
        await invite(ctx, account, moved, InvitationKind.OPT_IN)


@handlers.on(CompleteOnboarding)
async def complete_onboarding(ctx: HandlerContext, cmd: CompleteOnboarding) -> None:
    system(ctx)
    account = await load_account(ctx)
    await move(ctx, account, await load_member(ctx, cmd.user_id), Move.ONBOARDING_COMPLETED, by_user_id=cmd.user_id)
    if cmd.phone is not None:
        await repository.accounts.set_phone(ctx.conn, account.account_id, cmd.user_id, cmd.phone)
