import pytest

from crm_contracts.identity import MemberStatus, Package, UserType
from crm_identity.domain.instances import (
    API_KEY_PREFIX,
    check_profile,
    InstanceError,
    addresses,
    check_can_sign_in,
    hash_key,
    new_api_key,
    new_instance,
)


@pytest.mark.parametrize(("user_type", "status", "reason"), [
    (None, None, "not_a_member"),
    (UserType.DISPLAY_ONLY, MemberStatus.DISPLAY_ONLY, "display_only_member"),
    (UserType.PLATFORM, MemberStatus.PENDING_OPT_IN, "member_pending"),
    (UserType.PLATFORM, MemberStatus.PENDING_SEAT, "member_pending"),
    (UserType.PLATFORM, MemberStatus.PENDING_ACTIVATION, "member_pending"),
    (UserType.PLATFORM, MemberStatus.SEAT_UNAVAILABLE, "member_pending"),
    (UserType.PLATFORM, MemberStatus.INACTIVE, "member_inactive"),
])
def test_only_users_who_can_sign_in_may_buy_or_be_invited(user_type, status, reason):
    with pytest.raises(InstanceError) as err:
        check_can_sign_in("u1", user_type, status)
    assert err.value.reason == reason


def test_an_active_platform_user_can_sign_in():
    check_can_sign_in("u1", UserType.PLATFORM, MemberStatus.ACTIVE)


def test_packages_decide_website_routing_and_members():
    team = new_instance("acc", "u1", Package.CRM_IDX_TEAM, "T", instance_id="ins_t", website_id="web_t")
    solo = new_instance("acc", "u1", Package.CRM_IDX_SOLO, "S", instance_id="ins_s", website_id="web_s")
    crm = new_instance("acc", "u1", Package.CRM_ONLY, "C", instance_id="ins_c", website_id="web_c")
    assert team.website_id and solo.website_id and crm.website_id is None
    assert team.capabilities.routing and crm.capabilities.routing and not solo.capabilities.routing
    team.check_accepts_members()
    with pytest.raises(InstanceError) as err:
        solo.check_accepts_members()
    assert err.value.reason == "solo_instance_has_no_members"
    assert len({team.parsing_email, solo.parsing_email, crm.parsing_email}) == 3



@pytest.mark.parametrize("role", ["admin", "lead_manager", "agent"])
def test_a_member_gets_one_of_the_three_profiles(role):
    check_profile(role)
    for other in ("owner", "lead_agent", "Admin"):
        with pytest.raises(InstanceError) as err:
            check_profile(other)
        assert err.value.reason == "unknown_role" and "lead_manager" in err.value.message


def test_api_keys_are_prefixed_long_random_and_kept_only_as_a_hash():
    keys = [new_api_key() for _ in range(50)]
    assert len({k.key for k in keys}) == 50
    for k in keys:
        assert k.key.startswith(API_KEY_PREFIX) and len(k.key) - len(API_KEY_PREFIX) == 43  # 256 bits
        assert k.key_hash == hash_key(k.key) != k.key and k.last_four == k.key[-4:]


def test_each_user_and_instance_has_its_own_addresses():
    pairs = {addresses(u, i) for u in ("a", "b") for i in ("ins_1", "ins_2")}
    assert len({p[0] for p in pairs}) == len({p[1] for p in pairs}) == 4
    # Derived, so a rebuilt database agrees: a known answer (the user id is hashed, never shown).
    assert addresses("a", "ins_1") == ("73a1d05631bc.ins_1@send.crm.example",
                                       "leads+73a1d05631bc.ins_1@parse.crm.example")
