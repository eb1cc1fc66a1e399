"""The diff shown between versions of an instance's rules."""

from __future__ import annotations

from crm_routing.domain.rule_history import diff

A = {"id": "a", "steps": [{"strategy": "round_robin"}]}
B = {"id": "b", "when": {"zip": ["94110"]}, "steps": [{"strategy": "pond"}]}
C = {"id": "c", "steps": [{"strategy": "first_to_claim"}]}


def test_the_first_version_adds_every_rule():
    assert diff(None, [A, B]) == {"added": ["a", "b"], "removed": [], "changed": [], "reordered": False}


def test_added_removed_changed_and_reordered_rules_are_named():
    b2 = {**B, "when": {"zip": ["94107"]}}
    assert diff([A, B, C], [C, b2, {"id": "d", "steps": []}]) == {
        "added": ["d"], "removed": ["a"], "changed": ["b"], "reordered": True}
    assert diff([A, B], [A, B]) == {"added": [], "removed": [], "changed": [], "reordered": False}
