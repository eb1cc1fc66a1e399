"""The Kafka jars are checked against the SHA-256 this repository recorded: a changed, missing or
unlisted jar is refused with one line naming it, and Maven that cannot reach its registry is one
line too, not a traceback or "No plugin found"."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from crm_devstack.stack import kafka_jars
from crm_devstack.stack.kafka_jars import FetchFailed


@pytest.fixture
def tree(tmp_path):
    root, libs = tmp_path / "repo", tmp_path / "libs"
    (root / "infra" / "kafka").mkdir(parents=True)
    libs.mkdir()
    for name in ("kafka-tools-4.1.1.jar", "kafka-clients-4.1.1.jar"):
        (libs / name).write_bytes(name.encode() * 100)
    kafka_jars.record(root, libs)
    return root, libs


def fake_mvn(tmp_path, monkeypatch, script: str) -> None:
    """A stand-in `mvn` first on PATH, running `script`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text("#!/bin/sh\n" + script)
    mvn.chmod(mvn.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_the_recorded_jars_pass(tree):
    root, libs = tree
    kafka_jars.fetch(libs, root)  # present: checked, nothing fetched


def test_a_jar_that_differs_from_its_record_is_refused(tree):
    root, libs = tree
    (libs / "kafka-clients-4.1.1.jar").write_bytes(b"something else")
    with pytest.raises(FetchFailed, match="kafka-clients-4.1.1.jar: SHA-256 differs"):
        kafka_jars.fetch(libs, root)


def test_a_missing_or_unlisted_jar_is_refused(tree):
    root, libs = tree
    (libs / "extra-1.0.jar").write_bytes(b"x")
    with pytest.raises(FetchFailed, match="not in .*infra/kafka/jars.sha256: extra-1.0.jar"):
        kafka_jars.verify(root, libs)
    (libs / "extra-1.0.jar").unlink()
    (libs / "kafka-clients-4.1.1.jar").unlink()
    with pytest.raises(FetchFailed, match="1 jars missing"):
        kafka_jars.verify(root, libs)


def test_the_record_is_what_the_repository_holds():
    root = kafka_jars.repo_root()
    names = kafka_jars.recorded(root)
    assert any(n.startswith("kafka-tools-") for n in names) and all(len(d) == 64 for d in names.values())


def test_a_registry_that_cannot_be_reached_is_one_line(tree, tmp_path, monkeypatch):
    root, _ = tree
    (root / "infra" / "kafka" / "pom.xml").write_text("<project/>")
    # Fails as Maven does when Maven Central does not answer.
    fake_mvn(tmp_path, monkeypatch, "echo '[ERROR] Plugin org.apache.maven.plugins:maven-dependency-plugin could not "
             "be resolved: Could not transfer artifact from/to central: Connect to repo.maven.apache.org:443 "
             "failed: Network is unreachable'\nexit 1\n")
    said = []
    with pytest.raises(FetchFailed, match="Maven Central cannot be reached") as failed:
        kafka_jars.fetch(tmp_path / "fresh", root, log=tmp_path / "maven.log", say=said.append)
    assert "\n" not in str(failed.value) and "maven.log" in str(failed.value)
    assert said and "fetching the Kafka jars" in said[0]
    assert not (tmp_path / "fresh").exists()  # nothing half-fetched is taken for the jars


def test_digest_is_sha256(tmp_path):
    path = tmp_path / "a.jar"
    path.write_bytes(b"abc")
    assert kafka_jars.digest(path) == hashlib.sha256(b"abc").hexdigest()


def test_a_first_fetch_shows_each_download_and_keeps_only_checked_jars(tree, tmp_path, monkeypatch):
    root, libs = tree
    (root / "infra" / "kafka" / "pom.xml").write_text("<project/>")
    # Copies the recorded jars where Maven's -DoutputDirectory says, printing what Maven prints.
    fake_mvn(tmp_path, monkeypatch, f"""for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${{a#-DoutputDirectory=}}";; esac; done
mkdir -p "$out" && cp {libs}/*.jar "$out"/
echo '[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/o/k/kafka-tools-4.1.1.jar (1.2 MB at 3 MB/s)'
echo '[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/o/k/kafka-tools-4.1.1.pom (2 kB at 3 MB/s)'
""")
    said = []
    kafka_jars.fetch(tmp_path / "fresh", root, log=tmp_path / "maven.log", say=said.append)
    assert said[1:] == ["           kafka-tools-4.1.1.jar (1.2 MB)"]
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == sorted(p.name for p in libs.iterdir())
    assert not (tmp_path / "fresh.partial").exists()
