"""R3 as a property of the rules alone: whatever happens to memberships, statuses and pauses, a
decision names only eligible people of the roster it is given (active, not paused), and pools a
lead only when no step had one. That the roster holds only the instance's own members is routing's
SQL: `test_isolation_through_the_database.py` lets routing build it from the events."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from crm_routing.domain import rules as rulebook
from crm_routing.domain.router import Member, decide

INSTANCES = ["ins_a", "ins_b", "ins_c"]
USERS = ["u1", "u2", "u3", "u4"]
# Active more often than not, so that leads have someone to go to and the other statuses matter.
STATUSES = ["active", "active", "active", "pending_opt_in", "pending_activation", "inactive", "display_only", None]
STRATEGIES = [
    [{"id": "rr", "steps": [{"strategy": "round_robin"}]}],
    [{"id": "w", "steps": [{"strategy": "weighted", "weights": {u: i + 1 for i, u in enumerate(USERS)}}]}],
    [{"id": "all", "steps": [{"strategy": "first_to_claim"}]}],
    [{"id": "one", "steps": [{"strategy": "specific_agent", "agent": "u3"}, {"strategy": "round_robin",
                                                                            "agents": ["u1", "u2", "u9"]}]}],
]

ops = st.one_of(
    st.tuples(st.just("join"), st.sampled_from(INSTANCES), st.sampled_from(USERS)),
    st.tuples(st.just("leave"), st.sampled_from(INSTANCES), st.sampled_from(USERS)),
    st.tuples(st.just("status"), st.sampled_from(USERS), st.sampled_from(STATUSES)),
    st.tuples(st.just("pause"), st.sampled_from(INSTANCES), st.sampled_from(USERS)),
    st.tuples(st.just("resume"), st.sampled_from(INSTANCES), st.sampled_from(USERS)),
    st.tuples(st.just("lead"), st.sampled_from(INSTANCES), st.just(None)),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(ops, min_size=1, max_size=80), st.sampled_from(STRATEGIES))
# The cases random histories reach only rarely (an active member paused, or in another status, at
# the moment a lead comes), always tried: without them 500 histories missed an unchecked pause.
@example([("join", "ins_a", "u1"), ("status", "u1", "active"), ("pause", "ins_a", "u1"), ("lead", "ins_a", None)],
         STRATEGIES[0])
@example([("join", "ins_a", "u1"), ("status", "u1", "pending_activation"), ("lead", "ins_a", None)], STRATEGIES[2])
def test_a_decision_names_only_eligible_members_of_its_roster(history, raw_rules):
    members: dict[str, set[str]] = {i: set() for i in INSTANCES}
    status: dict[str, str | None] = {}
    paused: set[tuple[str, str]] = set()
    states: dict[str, dict[str, dict]] = {i: {} for i in INSTANCES}
    rules = rulebook.parse(raw_rules, 1)
    for op, a, b in history:
        if op == "join":
            members[a].add(b)
        elif op == "leave":
            members[a].discard(b)
            paused.discard((a, b))
        elif op == "status":
            status[a] = b
        elif op == "pause":
            paused.add((a, b))
        elif op == "resume":
            paused.discard((a, b))
        else:
            # What routing's roster query returns: this instance's members only.
            roster = {u: Member(u, status.get(u), (a, u) in paused) for u in members[a]}
            decision = decide(rules, "manual", {}, roster, states[a])
            if decision.state_key is not None:
                states[a][decision.state_key] = decision.state
            eligible = {u for u in members[a] if status.get(u) == "active" and (a, u) not in paused}
            assert set(decision.user_ids) <= eligible, (a, decision)
            if decision.kind == "pool":  # only when no step of the rule had anyone eligible
                for step in rules.rules[0].steps:
                    named = {step.agent} if step.agent else set(step.agents or step.weights or members[a])
                    assert not named & eligible, (a, step, eligible)
