"""Another language's official SDK reads what we write: the CloudEvents Java SDK's Kafka binding
(io.cloudevents:cloudevents-kafka, from Maven Central, checked against interop/java/jars.sha256),
left to choose the mode by itself, reads every record `crm publish` and the four services write
for one account as a structured CloudEvent with our envelope's attributes and data."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import pytest

from crm_devstack.stack import kafka_jars
from interop_steps import records_of_every_writer

pytestmark = pytest.mark.stack

SOURCE = kafka_jars.repo_root() / "interop" / "java" / "CloudEventsReader.java"


@pytest.fixture(scope="module")
def java_reader(stack):
    """The reader compiled against the SDK's jars: its classpath."""
    if shutil.which("javac") is None:
        pytest.fail("javac not found: a JDK is part of the machine (scripts/bootstrap.sh installs it)")
    home = stack.run / "interop"
    jars, classes = home / "jars", home / "classes"
    kafka_jars.fetch(jars, log=home / "maven.log", jars=kafka_jars.CLOUDEVENTS_JAVA)
    compiled = classes / "CloudEventsReader.class"
    if not compiled.exists() or compiled.stat().st_mtime < SOURCE.stat().st_mtime:
        subprocess.run(["javac", "-d", str(classes), "-cp", f"{jars}/*", str(SOURCE)], check=True, timeout=120)
    return f"{jars}/*:{classes}"


async def read_in_java(stack, classpath: str, topics: set[str], key: str) -> list[dict]:
    args = ["java", "-cp", classpath, "CloudEventsReader", stack.bootstrap, ",".join(sorted(topics)), key, "60"]
    if stack.sasl:
        args.append(str(stack.run / "kafka" / "admin.properties"))  # the operator's login, as `crm` uses
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-3000:]
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


async def test_the_java_sdk_reads_what_the_cli_publishes_and_what_the_services_answer(
        stack, bus, account_id, java_reader):
    records = await records_of_every_writer(stack, bus, account_id)
    keyed = [r for r in records if r.key == account_id]
    assert len(keyed) == len(records), "each record of the account is keyed by it"
    read = {(line["topic"], line["partition"], line["offset"]): line for line in
            await read_in_java(stack, java_reader, {r.topic for r in records}, account_id)}
    for rec in records:
        ours, theirs = rec.event, read.get((rec.topic, rec.partition, rec.offset))
        assert theirs is not None, f"the Java SDK did not read {rec.topic}/{rec.partition}@{rec.offset} ({ours.type})"
        assert theirs["encoding"] == "STRUCTURED", theirs  # chosen by the binding, from the content type
        assert (theirs["id"], theirs["type"], theirs["source"], theirs["specversion"], theirs["subject"]) == (
            ours.id, ours.type, ours.source, "1.0", ours.subject)
        assert theirs["extensions"]["accountid"] == account_id
        assert theirs["extensions"].get("correlationid") == ours.correlationid
        assert theirs["data"] == ours.data
