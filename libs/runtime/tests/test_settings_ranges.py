"""The consumer's counts have ranges: a value that would stall or unbound it fails at start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_runtime.settings import ServiceSettings


@pytest.mark.parametrize(("name", "value"), [
    ("max_concurrent_partitions", 0), ("group_max_partitions", 0), ("fetch_max_records", 0),
    ("lane_backlog", 1), ("fetch_max_records", 10_001), ("max_concurrent_partitions", 257),
])
def test_a_count_out_of_its_range_is_refused(name, value, monkeypatch):
    monkeypatch.setenv(name.upper(), str(value))
    with pytest.raises(ValidationError, match=name):
        ServiceSettings()


def test_the_defaults_and_one_are_accepted(monkeypatch):
    monkeypatch.setenv("GROUP_MAX_PARTITIONS", "1")
    settings = ServiceSettings()
    assert (settings.group_max_partitions, settings.max_concurrent_partitions, settings.fetch_max_records) == (1, 4, 500)
