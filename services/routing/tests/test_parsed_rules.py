"""Parsed rule sets are kept per (instance, version), least recently used first out, so a
long-running replica holds only the rule sets of the instances that have leads."""

from crm_routing.handlers import leads


def test_parsed_rule_sets_are_bounded_and_keep_the_recently_used(monkeypatch):
    monkeypatch.setattr(leads, "PARSED_KEPT", 3)
    monkeypatch.setattr(leads, "_PARSED", type(leads._PARSED)())
    first = leads._parsed("inst-0", 1, [])
    for i in range(1, 6):
        leads._parsed(f"inst-{i}", 1, [])
        assert leads._parsed("inst-0", 1, []) is first  # used every time: never the one to go
    assert len(leads._PARSED) == 3
    assert list(leads._PARSED) == [("inst-4", 1), ("inst-5", 1), ("inst-0", 1)]
    again = leads._parsed("inst-1", 1, [])  # pushed out before: parsed anew, pushing out the oldest
    assert again.version == 1
    assert list(leads._PARSED) == [("inst-5", 1), ("inst-0", 1), ("inst-1", 1)]
