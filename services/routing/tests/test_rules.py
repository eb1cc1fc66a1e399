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


def _story(when: dict, channel: str, lead: dict) -> tuple[list[tuple[str, str]], bool]:
    rule_set = rulebook.parse([{"id": "r", "when": when, "steps": [{"strategy": "round_robin"}]}], version=1)
    _, tried = rulebook.first_match(rule_set, channel, lead)
    return [(why.split(" ")[0], why) for why in tried[0]["why"]], tried[0]["matched"]


def test_each_condition_is_explained_in_the_leads_history_held_or_not():
    every = {"channel": ["website"], "source": ["zillow"], "zip": ["10001"], "zip_prefix": ["100"],
             "price_min": 250_000, "price_max": 250_000, "tags_any": ["Hot"], "tags_all": ["hot", "buyer"],
             "lead_type": ["buyer"]}
    held = {"source": "zillow", "zip": " 10001 ", "price": 250_000, "tags": ["HOT", "Buyer"], "lead_type": "buyer"}
    assert _story(every, "website", held) == ([
        ("channel", "channel website in ['website']"),
        ("source", "source 'zillow' in ['zillow']"),
        ("zip", "zip '10001' in ['10001']"),
        ("zip", "zip '10001' starts with one of ['100']"),
        ("price", "price 250000 ≥ 250000"),  # both bounds are inclusive
        ("price", "price 250000 ≤ 250000"),
        ("tags", "tags ['buyer', 'hot'] share with ['Hot']"),
        ("tags", "tags ['buyer', 'hot'] include ['hot', 'buyer']"),
        ("lead", "lead type 'buyer' in ['buyer']"),
    ], True)
    assert _story(every, "manual", {"tags": ["cold"]}) == ([
        ("channel", "channel manual not in ['website']"),
        ("source", "source None not in ['zillow']"),
        ("zip", "zip '' not in ['10001']"),
        ("zip", "zip '' does not start with one of ['100']"),
        ("price", "price None not ≥ 250000"),
        ("price", "price None not ≤ 250000"),
        ("tags", "tags ['cold'] share none with ['Hot']"),
        ("tags", "tags ['cold'] lack some of ['hot', 'buyer']"),
        ("lead", "lead type None not in ['buyer']"),
    ], False)


def test_every_condition_a_rule_may_set_is_checked():
    fields = set(rulebook.When.model_fields)
    assert {c.field for c in rulebook._CONDITIONS} == fields
