"""Fixtures shared by every test folder: the real stack and a bus client.

The stack, chosen by CRM_STACK or else in this order:
- `local`: the stack of `make up` on this machine (processes, Kafka from Maven Central jars);
- `compose`: the containers of docker-compose.yml, brought up by `make compose-up`;
- `containers`: containers started here through testcontainers, from the same compose file;
- unset: KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL when both are set (a stack run elsewhere), else
  `compose` while `make compose-up` has it running, else `containers` when a Docker-compatible
  engine answers, else `local`.

Tests that start a replica or a service with its own settings, or that need the services to see
each client's own loopback address, need the local stack: they are marked `local_stack` and are
skipped on containers.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crm_devstack.bus import Bus
from crm_devstack.stack import Stack
from crm_devstack.stack.layout import SERVICES

ROOT = Path(__file__).parent
CONTAINER_STACKS = ("compose", "containers")
STARTED = pytest.StashKey[str]()
SHOWN_LOG_LINES = 40


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def _chosen_stack() -> str:
    chosen = os.environ.get("CRM_STACK")
    if chosen:
        if chosen not in ("local", *CONTAINER_STACKS):
            raise pytest.UsageError(f"CRM_STACK={chosen}: one of local, compose, containers")
        return chosen
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"):
        return "external"
    from crm_devstack.stack.containers import ACTIVE_MARK

    if (ROOT / ACTIVE_MARK).exists():
        return "compose"
    return "containers" if _docker_engine_answers() else "local"


def pytest_collection_modifyitems(config, items):
    if _chosen_stack() in CONTAINER_STACKS:
        skip = pytest.mark.skip(reason="needs the local stack (a replica, own settings, or client addresses)")
        for item in items:
            if "local_stack" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def infrastructure():
    chosen = _chosen_stack()
    if chosen == "external":
        yield Stack(kafka_bootstrap=os.environ["KAFKA_BOOTSTRAP_SERVERS"], pg_url=os.environ["DATABASE_URL"],
                    run=ROOT / ".run" / "external")
    elif chosen == "compose":
        from crm_devstack.stack.containers import compose_stack

        yield compose_stack(ROOT)
    elif chosen == "containers":
        from crm_devstack.stack.fixtures import started

        with started(ROOT) as stack:
            yield stack
    else:
        yield Stack()


@pytest.fixture(scope="session")
async def stack(infrastructure: Stack) -> Stack:
    await infrastructure.up(say=lambda *_: None)
    return infrastructure


@pytest.fixture(scope="session")
async def bus(stack: Stack):
    client = Bus(stack.kafka.args())
    await client.start()
    yield client
    await client.stop()


@pytest.fixture(scope="session")
async def producer(stack: Stack):
    """An idempotent, acks=all producer, as the services have, for tests that publish raw records."""
    from aiokafka import AIOKafkaProducer

    p = AIOKafkaProducer(**stack.kafka.args(), enable_idempotence=True, acks="all")
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def account_id() -> str:
    return "acc_" + uuid.uuid4().hex[:12]


def pytest_runtest_setup(item):
    item.stash[STARTED] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test on the stack shows what the services warned of while it ran: a timeout alone
    cannot tell a refusal from a stall or an error."""
    report = (yield).get_result()
    stack = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or not isinstance(stack, Stack) or STARTED not in item.stash:
        return
    lines = []
    for service in SERVICES:
        for line in stack.log_text(service).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if (isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical")
                    and str(entry.get("timestamp", "")) >= item.stash[STARTED]):
                lines.append(f"{entry['timestamp']} {service}: {line[:400]}")
    if lines:
        report.sections.append(("services' warnings and errors while it ran", "\n".join(sorted(lines)[-SHOWN_LOG_LINES:])))
