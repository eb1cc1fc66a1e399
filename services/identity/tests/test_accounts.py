from crm_contracts.identity import CreateAccount
from crm_identity.domain.accounts import enterprise_instance_id, open_account


def cmd(**over) -> CreateAccount:
    base = {"account_id": "acc_1", "name": "Lane Realty", "tier": "enterprise",
            "owner": {"user_id": "usr_1", "email": "Owner@Example.com", "first_name": "Ada", "last_name": "Lane"}}
    return CreateAccount.model_validate({**base, **over})


def test_the_enterprise_instance_id_is_stable_per_account():
    """Known answers: the ids accounts already have. A change of the derivation would give every
    existing account a second Enterprise instance when its creation is replayed."""
    assert enterprise_instance_id("acc_1") == "ins_f6d17eb1e4335d3d"
    assert enterprise_instance_id("acc_2") == "ins_2bf7e31806ba56e1"


def test_a_retry_is_told_apart_from_a_conflict():
    account = open_account(cmd())
    assert account.opt_in_enabled is False
    assert account.same_request(cmd())
    assert not account.same_request(cmd(name="Other"))
    assert not account.same_request(cmd(tier="team"))
