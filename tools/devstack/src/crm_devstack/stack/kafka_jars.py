"""The Kafka jars of infra/kafka/pom.xml (and the CloudEvents Java SDK's of interop/java/pom.xml),
from Maven Central into a folder, once.

Maven checks each download against the repository's own checksum and fails on a mismatch
(`--strict-checksums`, where its default only warns); then every jar is checked against the
SHA-256 recorded in infra/kafka/jars.sha256, so a jar that differs from the one this repository
was tested with is refused even when the repository agrees with itself. Downloads are shown as
they finish; a registry that cannot be reached is one line, with the full log kept.

    python -m crm_devstack.stack.kafka_jars FOLDER            # fetch (and check) into FOLDER
    python -m crm_devstack.stack.kafka_jars FOLDER --record   # write jars.sha256 from FOLDER
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .layout import repo_root

UNREACHABLE = re.compile(r"Could not transfer|Unknown host|Connection refused|Connect to .* failed|"
                         r"No plugin found for prefix|Network is unreachable|timed out", re.I)


class FetchFailed(RuntimeError):
    """A one-line reason the jars are not there, for a person to act on."""


@dataclass(frozen=True)
class JarSet:
    home: str  # the folder of its pom.xml and jars.sha256, in the repository
    sentinel: str  # a jar whose presence says the set was fetched
    what: str
    size: str


KAFKA = JarSet("infra/kafka", "kafka-tools-[0-9]*.jar", "the Kafka jars", "about 55 MB")
CLOUDEVENTS_JAVA = JarSet("interop/java", "cloudevents-kafka-[0-9]*.jar", "the CloudEvents Java SDK", "about 9 MB")
SETS = (KAFKA, CLOUDEVENTS_JAVA)


def lock_file(root: Path, jars: JarSet = KAFKA) -> Path:
    return root / jars.home / "jars.sha256"


def recorded(root: Path, jars: JarSet = KAFKA) -> dict[str, str]:
    lines = lock_file(root, jars).read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line and not line.startswith("#"))}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(root: Path, folder: Path, jars: JarSet = KAFKA) -> None:
    """Every jar the lock names is in `folder` with its recorded SHA-256, and no other."""
    want, have = recorded(root, jars), {p.name: p for p in folder.glob("*.jar")}
    if missing := sorted(set(want) - set(have)):
        raise FetchFailed(f"{folder}: {len(missing)} jars missing ({', '.join(missing[:3])}…)")
    if extra := sorted(set(have) - set(want)):
        raise FetchFailed(f"{folder}: jars not in {lock_file(root, jars)}: {', '.join(extra[:3])} (a new pom.xml? "
                          "record them with --record)")
    if wrong := [name for name, path in sorted(have.items()) if digest(path) != want[name]]:
        raise FetchFailed(f"{', '.join(wrong)}: SHA-256 differs from {lock_file(root, jars)}; refusing to run it")


def fetch(folder: Path, root: Path | None = None, log: Path | None = None, say: Callable[[str], object] = print,
          jars: JarSet = KAFKA) -> None:
    """The jars in `folder`, fetched if they are not there yet; checked either way."""
    root = root or repo_root()
    if any(folder.glob(jars.sentinel)):
        verify(root, folder, jars)
        return
    if shutil.which("mvn") is None:
        raise FetchFailed("mvn not found: install Maven (make up does, through scripts/bootstrap.sh)")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    log = log or folder.with_name("maven.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"{jars.home:<10} fetching {jars.what} from Maven Central (first run; {jars.size}), log {log}")
    cmd = ["mvn", "-B", "--strict-checksums", "-Dstyle.color=never", "-f", str(root / jars.home / "pom.xml"),
           "dependency:copy-dependencies", f"-DoutputDirectory={partial}", "-DincludeScope=runtime"]
    with log.open("w") as out, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                text=True) as proc:
        assert proc.stdout is not None  # stdout=PIPE
        for line in proc.stdout:
            out.write(line)
            if (done := re.search(r"\[INFO\] Downloaded from \S+: (\S+) \((.+?) at", line)) and done.group(1).endswith(".jar"):
                say(f"           {done.group(1).rsplit('/', 1)[1]} ({done.group(2)})")
    if proc.returncode != 0:
        text = log.read_text(errors="replace")
        if UNREACHABLE.search(text):
            raise FetchFailed(f"Maven Central cannot be reached (see {log}): check the network or a proxy "
                              "(settings.xml), then run again")
        raise FetchFailed(f"Maven failed fetching {jars.what} (exit {proc.returncode}); see {log}")
    verify(root, partial, jars)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def record(root: Path, folder: Path, jars: JarSet = KAFKA) -> None:
    lines = [f"{digest(p)}  {p.name}" for p in sorted(folder.glob("*.jar"))]
    flag = "" if jars is KAFKA else f" --set {jars.home}"
    lock_file(root, jars).write_text(
        f"# SHA-256 of each jar {jars.home}/pom.xml brings, as fetched and tested here.\n"
        f"# After changing pom.xml: python -m crm_devstack.stack.kafka_jars FOLDER --record{flag}\n"
        + "\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--record", action="store_true", help="write jars.sha256 from the jars in FOLDER")
    parser.add_argument("--set", default=KAFKA.home, choices=[s.home for s in SETS], help="which pom.xml")
    args = parser.parse_args(argv)
    jars = next(s for s in SETS if s.home == args.set)
    if args.record:
        record(repo_root(), args.folder, jars)
        return 0
    try:
        fetch(args.folder.resolve(), jars=jars)
    except FetchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
