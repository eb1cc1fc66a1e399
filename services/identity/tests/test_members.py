from datetime import UTC, datetime, timedelta

import pytest

from crm_contracts.identity import Activation, InvitationKind, MemberRow, MemberStatus as S
from crm_identity.domain.invitations import InvitationError, State, hash_token, issue
from crm_identity.domain.members import MemberError, Move, administers_account, check_activation, new_member


def row(**over) -> MemberRow:
    base = {"user_id": "u1", "email": "a@example.com", "first_name": "A", "last_name": "B",
            "user_type": "platform", "activation": "immediate", "role": "agent"}
    return MemberRow.model_validate({**base, **over})


def test_entry_status_depends_on_type_and_activation():
    assert new_member("acc", row(), opt_in_enabled=False).status is S.PENDING_SEAT
    assert new_member("acc", row(activation="opt_in"), opt_in_enabled=True).status is S.PENDING_OPT_IN
    shown = new_member("acc", row(user_type="display_only", activation=None), opt_in_enabled=False)
    assert (shown.status, shown.activation) == (S.DISPLAY_ONLY, None)


def test_opt_in_needs_the_account_setting_and_platform_users_need_a_mode():
    with pytest.raises(MemberError) as err:
        new_member("acc", row(activation="opt_in"), opt_in_enabled=False)
    assert err.value.reason == "opt_in_not_enabled"
    with pytest.raises(MemberError) as err:
        new_member("acc", row(activation=None), opt_in_enabled=True)
    assert err.value.reason == "activation_required"


def test_the_opt_in_path_through_the_status_machine():
    m = new_member("acc", row(activation="opt_in"), opt_in_enabled=True)
    m = m.move(Move.OPT_IN_ACCEPTED)
    assert m.status is S.PENDING_SEAT
    m = m.move(Move.SEAT_RESERVED)
    assert m.status is S.PENDING_ACTIVATION
    m = m.move(Move.ONBOARDING_COMPLETED)
    assert m.status is S.ACTIVE
    m = m.move(Move.DEACTIVATED)
    assert m.status is S.INACTIVE
    assert m.move(Move.REACTIVATED).status is S.PENDING_OPT_IN  # follows the original mode


def test_immediate_members_wait_for_a_seat_again_on_reactivation():
    m = new_member("acc", row(), opt_in_enabled=False).move(Move.SEAT_DENIED)
    assert m.status is S.SEAT_UNAVAILABLE
    assert m.move(Move.REACTIVATED).status is S.PENDING_SEAT


def test_an_accepted_opt_in_left_without_a_seat_asks_for_one_again_on_reactivation():
    waiting = new_member("acc", row(activation="opt_in"), opt_in_enabled=True).move(Move.OPT_IN_ACCEPTED)
    waiting = waiting.move(Move.SEAT_DENIED)
    assert waiting.move(Move.REACTIVATED).status is S.PENDING_SEAT  # not invited to opt in a second time


def test_an_admin_may_reactivate_by_another_process_than_the_first():
    m = new_member("acc", row(activation="opt_in"), opt_in_enabled=True).move(Move.DEACTIVATED)
    back = m.move(Move.REACTIVATED, Activation.IMMEDIATE)
    assert (back.activation, back.status) == (Activation.IMMEDIATE, S.PENDING_SEAT)
    waiting = new_member("acc", row(), opt_in_enabled=False).move(Move.SEAT_DENIED)
    again = waiting.move(Move.REACTIVATED, Activation.OPT_IN)  # asked to opt in this time
    assert (again.activation, again.status) == (Activation.OPT_IN, S.PENDING_OPT_IN)


def test_opt_in_activation_needs_the_account_to_allow_it_wherever_it_is_chosen():
    check_activation("acc", Activation.IMMEDIATE, opt_in_enabled=False)
    check_activation("acc", Activation.OPT_IN, opt_in_enabled=True)
    with pytest.raises(MemberError) as err:
        check_activation("acc", Activation.OPT_IN, opt_in_enabled=False, way_out="; reactivate with activation=immediate")
    assert err.value.reason == "opt_in_not_enabled" and "activation=immediate" in str(err.value)


def test_convert_sets_type_and_mode():
    shown = new_member("acc", row(user_type="display_only", activation=None), opt_in_enabled=False)
    converted = shown.move(Move.CONVERTED, Activation.OPT_IN)
    assert (converted.user_type.value, converted.activation, converted.status) == (
        "platform", Activation.OPT_IN, S.PENDING_OPT_IN)


@pytest.mark.parametrize(("start", "move"), [
    (S.PENDING_OPT_IN, Move.ONBOARDING_COMPLETED),
    (S.ACTIVE, Move.OPT_IN_ACCEPTED),
    (S.PENDING_ACTIVATION, Move.REACTIVATED),
    (S.INACTIVE, Move.DEACTIVATED),
    (S.PENDING_SEAT, Move.CONVERTED),
])
def test_moves_from_the_wrong_status_are_refused(start, move):
    from dataclasses import replace

    m = replace(new_member("acc", row(), opt_in_enabled=False), status=start)
    with pytest.raises(MemberError) as err:
        m.move(move, Activation.IMMEDIATE)
    assert err.value.reason == "invalid_status"


NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_an_invitation_keeps_only_a_hash_and_expires():
    inv, token = issue("acc", "u1", InvitationKind.OPT_IN, NOW, invitation_id="inv_1")
    assert len(token) >= 40 and inv.token_hash == hash_token(token) and token not in inv.token_hash
    assert inv.expires_at == NOW + timedelta(days=7)
    assert inv.accept(NOW + timedelta(days=6)).state is State.ACCEPTED
    with pytest.raises(InvitationError) as err:
        inv.accept(NOW + timedelta(days=7))
    assert err.value.reason == "invitation_expired"


@pytest.mark.parametrize(("state", "reason"), [
    (State.ACCEPTED, "invitation_already_used"),
    (State.SUPERSEDED, "invitation_superseded"),
    (State.REVOKED, "invitation_revoked"),
])
def test_each_dead_link_has_its_own_reason(state, reason):
    from dataclasses import replace

    inv, _ = issue("acc", "u1", InvitationKind.OPT_IN, NOW, invitation_id="inv_1")
    with pytest.raises(InvitationError) as err:
        replace(inv, state=state).accept(NOW)
    assert err.value.reason == reason


def test_tokens_are_unguessable_and_distinct():
    tokens = {issue("acc", "u1", InvitationKind.OPT_IN, NOW, invitation_id="inv_1")[1] for _ in range(200)}
    assert len(tokens) == 200


def test_which_roles_administer_the_account():
    # Identity alone decides this; seats and notifications keep the published answer.
    assert [administers_account(r) for r in ("admin", " Owner ", "ADMIN")] == [True, True, True]
    assert [administers_account(r) for r in ("agent", "", None, "administrator")] == [False] * 4
