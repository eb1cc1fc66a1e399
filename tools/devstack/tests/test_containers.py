"""The container fixtures' settings, built on any machine, engine or not: a fixture that cannot be
configured (testcontainers' Confluent-only Kafka module refusing apache/kafka in KRaft mode, say)
fails here first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from crm_devstack.stack.fixtures import ORDER, docker_container, interpolate, settings, stack_for
from crm_devstack.stack.layout import SERVICES, repo_root

ROOT = repo_root()


def _by_component(env: dict[str, str] | None = None, ports=None):
    return {s.component: s for s in settings(ROOT, Path("/tmp/crm-run"), env or {}, ports=ports, prefix="t")}


def test_compose_variables_take_the_environment_or_their_default():
    assert interpolate("${A:-x}/${B}/${C:-}", {"A": "1"}) == "1//"
    assert interpolate("${A:-x}", {}) == "x"


def test_every_container_of_the_compose_file_starts_in_dependency_order_from_its_image():
    by = _by_component()
    assert list(by) == list(ORDER)
    kafka_version = re.search(r"<kafka.version>(.+)</kafka.version>", (ROOT / "infra/kafka/pom.xml").read_text())[1]
    assert by["kafka"].image == f"apache/kafka:{kafka_version}"  # the official image, the jars' version
    assert by["postgres"].image == "postgres:15"
    assert by["identity"].image == "crm-platform/service:latest"
    assert by["init"].one_shot and not by["mail"].one_shot
    assert by["kafka"].ready_log and by["postgres"].ready_log
    chosen = _by_component({"CRM_KAFKA_IMAGE": "localhost/crm-platform/kafka:9", "CRM_UID": "1234"})
    assert chosen["kafka"].image == "localhost/crm-platform/kafka:9"
    assert chosen["identity"].user == "1234" and chosen["init"].user == "0"
    assert "1234" in chosen["init"].command  # the run folder is handed to the services' user


def test_published_ports_move_to_the_chosen_ones_and_the_addresses_follow():
    ports = {9092: 41001, 5433: 41002, 2525: 41003, 8001: 41011, 8002: 41012, 8003: 41013, 8004: 41014}
    by = _by_component(ports=ports)
    assert by["kafka"].ports == {9092: 41001}
    assert "EXTERNAL://127.0.0.1:41001" in by["kafka"].env["KAFKA_ADVERTISED_LISTENERS"]
    assert "PLAINTEXT://kafka:19092" in by["kafka"].env["KAFKA_ADVERTISED_LISTENERS"]
    assert by["identity"].ports == {8000: 41011}
    assert by["identity"].env["PUBLIC_BASE_URL"] == "http://127.0.0.1:41011"
    assert by["notifications"].env["SMTP_HOST"] == "mail"  # on the network, by its name
    stack = stack_for(Path("/tmp/crm-run"), ROOT, list(by.values()), "docker")
    assert stack.bootstrap == "127.0.0.1:41001" and stack.smtp_port == 41003
    assert stack.http("routing") == "http://127.0.0.1:41014"
    assert stack.database_url("seats") == "postgresql://crm_seats@127.0.0.1:41002/crm_seats"
    assert stack.containers["kafka"] == "t-kafka"


def test_free_ports_differ_and_mounts_are_absolute():
    by = _by_component()
    host_ports = [p for s in by.values() for p in s.ports.values()]
    assert len(host_ports) == len(set(host_ports)) == 4 + len(SERVICES) - 1
    for s in by.values():
        for host, _, mode in s.volumes:
            assert Path(host).is_absolute() and mode in ("ro", "rw")
    assert ("/tmp/crm-run", "/var/lib/crm", "rw") in by["identity"].volumes


def test_each_container_is_configured_for_testcontainers_without_asking_an_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    for s in settings(ROOT, Path("/tmp/crm-run"), {}, prefix="t"):
        container = docker_container(s)
        assert container.image.endswith(s.image)
        assert all(bound[0] == "127.0.0.1" for bound in container.ports.values())  # loopback only
        assert container._kwargs["ulimits"]


def test_one_postgresql_major_on_every_path():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    major = interpolate(compose["services"]["postgres"]["image"], {}).split(":")[1]
    assert "postgresql-" + major in (ROOT / "scripts/images.sh").read_text()  # the image without a registry
    assert f"# PostgreSQL {major}" in (ROOT / "infra/images/postgres/Dockerfile").read_text()
    pytest.importorskip("asyncpg")
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) if Path("/usr/lib/postgresql").exists() else []
    if debian:  # `make up` here runs Debian's
        assert debian[-1].parts[-3] == major
