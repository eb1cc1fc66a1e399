"""The Kafka nodes the local stack writes: one broker by default, a replicated cluster of three
with `KAFKA_BROKERS=3`. No broker is started here; the properties files are read back."""

from __future__ import annotations

import pytest

from crm_devstack.stack import Stack


def properties(stack: Stack, node: int) -> dict[str, str]:
    text = stack.kafka.write_properties(node).read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_one_broker_keeps_its_ports_and_one_replica(tmp_path):
    stack = Stack(run=tmp_path, brokers=1)
    props = properties(stack, 1)
    assert stack.bootstrap == "127.0.0.1:9092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["default.replication.factor"] == "1" and props["min.insync.replicas"] == "1"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "data")


def test_a_cluster_is_three_nodes_each_with_its_own_ports_and_folder_and_three_replicas(tmp_path):
    stack = Stack(run=tmp_path, brokers=3)
    assert stack.bootstrap == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
    nodes = {n: properties(stack, n) for n in (1, 2, 3)}
    voters = "1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194"
    for n, props in nodes.items():
        assert props["node.id"] == str(n)
        assert props["controller.quorum.voters"] == voters
        assert props["listeners"] == f"PLAINTEXT://127.0.0.1:{9091 + n},CONTROLLER://127.0.0.1:{9191 + n}"
        assert props["log.dirs"] == str(tmp_path / f"kafka-{n}" / "data")
        # A record is acknowledged once two of three hold it; an out-of-sync replica never leads.
        for key, value in {"default.replication.factor": "3", "min.insync.replicas": "2",
                           "offsets.topic.replication.factor": "3", "transaction.state.log.min.isr": "2",
                           "unclean.leader.election.enable": "false"}.items():
            assert props[key] == value, key


def test_the_stack_runs_one_broker_or_three(tmp_path):
    with pytest.raises(ValueError, match="1 broker or a cluster of 3"):
        Stack(run=tmp_path, brokers=2)
    with pytest.raises(ValueError, match="no broker 4"):
        Stack(run=tmp_path, brokers=3).kafka.stop(broker=4)
