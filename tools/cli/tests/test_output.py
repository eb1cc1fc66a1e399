"""What `crm` prints for scripts and pipes: its version, every listing as JSON lines, and tables
whole when piped (Rich cuts them at 80 columns when it cannot see a terminal)."""

from __future__ import annotations

import json
import os
from importlib.metadata import version

import pytest

from cli_helpers import crm
from crm_contracts import TOPICS
from crm_runtime.topics import PARTITIONS


async def test_version_names_the_cli_and_the_contract():
    code, out, _ = await crm("--version")
    assert code == 0
    assert out.split() == ["crm", version("crm-cli"), "·", "contract", "crm-contracts", version("crm-contracts")]


def _without_columns() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "COLUMNS"}


@pytest.mark.stack
async def test_listings_give_one_json_object_per_row(stack):
    code, out, _ = await crm("topics", "list", "--json", "-b", stack.bootstrap)
    assert code == 0
    rows = {row["topic"]: row for row in map(json.loads, out.splitlines())}
    for topic in TOPICS.values():
        for name in (topic.name, topic.dlq):
            assert rows[name]["partitions"] == PARTITIONS and rows[name]["replicas"] == stack.replication
    assert rows["identity.commands.v1"]["keyed_by"] == "accountid"
    code, out, _ = await crm("status", "--json", "--replicas", "1")
    assert code == 0
    statuses = [json.loads(line) for line in out.splitlines()]
    assert [s["service"] for s in statuses] == ["identity", "seats", "notifications", "routing"]
    assert all(isinstance(s["handled"], int) and isinstance(s["pid"], int) for s in statuses)
    code, out, _ = await crm("lag", "--json", "-b", stack.bootstrap)
    assert code == 0
    assert all({"group", "topic", "partition", "committed", "end", "lag"} == set(json.loads(line))
               for line in out.splitlines())


@pytest.mark.stack
async def test_a_piped_table_is_not_cut_at_80_columns(stack):
    code, out, _ = await crm("topics", "list", "-b", stack.bootstrap, env=_without_columns())
    assert code == 0
    assert "…" not in out
    rows = [line.split() for line in out.splitlines()]
    for topic in TOPICS.values():
        [row] = [r for r in rows if r and r[0] == topic.name]
        assert row[-1] == topic.key_rule.value
    assert max(len(line) for line in out.splitlines()) > 80  # what Rich would have cut
