import pytest

from crm_routing.domain import rules as rulebook
from crm_routing.domain.strategies import round_robin, weighted


def test_a_rule_set_without_a_default_gets_one_at_the_end():
    parsed = rulebook.parse([{"id": "zip", "when": {"zip": ["1"]}, "steps": [{"strategy": "pond"}]}], 4)
    assert [r.id for r in parsed.rules] == ["zip", "default"] and parsed.version == 4


@pytest.mark.parametrize(("raw", "path"), [
    ([{"id": "a", "steps": [{"strategy": "teleport"}]}], "rules[0].steps.0.strategy"),
    ([{"id": "a", "steps": [{"strategy": "pond"}]}, {"id": "a", "steps": [{"strategy": "pond"}]}], "rules[1].id"),
    ([{"id": "a", "steps": [{"strategy": "specific_agent"}]}], "rules[0].steps.0"),
    ([{"id": "a", "steps": [{"strategy": "pond", "claim_within_s": 5}]}], "rules[0].steps.0"),
])
def test_the_first_error_is_named_by_its_path(raw, path):
    with pytest.raises(rulebook.RulesError) as err:
        rulebook.parse(raw, 1)
    assert err.value.reason == "invalid_rules" and err.value.message.startswith(path), err.value.message


def test_round_robin_continues_after_the_last_chosen_even_when_people_come_and_go():
    state: dict = {}
    picks = []
    for people in (["a", "b", "c"], ["a", "b", "c"], ["a", "c"], ["a", "b", "c", "d"], ["a", "b", "c", "d"]):
        choice = round_robin(people, state)
        picks.append(choice.user_id)
        state = choice.state
    assert picks == ["a", "b", "c", "d", "a"]


def test_weighted_is_exactly_proportional_over_every_full_window_and_spread_out():
    weights = {"a": 5, "b": 1, "c": 1}
    state: dict = {}
    picks = []
    for _ in range(70):
        choice = weighted(list(weights), weights, state)
        picks.append(choice.user_id)
        state = choice.state
    for start in range(0, 70, 7):
        window = picks[start:start + 7]
        assert {u: window.count(u) for u in weights} == weights
    assert "aaaaa" not in "".join(picks)  # smooth: not five in a row
