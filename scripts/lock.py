"""The hashed lockfiles: every third-party package the repository installs, at one version, with
the SHA-256 of each of its files, so `pip install --require-hashes` refuses anything else.

    python scripts/lock.py           # write requirements/*.in from the pyprojects, then compile
    python scripts/lock.py --inputs  # only the .in files (what the staleness test compares)

Two locks: `services.lock`, what the images install (the services, the CLI, the mail server), and
`dev.lock`, everything `make up` and the tests install. Their inputs are the exact pins of every
pyproject.toml here (and requirements-dev.txt), the repository's own packages left out; pip-tools,
pinned below, resolves them in a virtual environment of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "requirements"
PIP_TOOLS = "pip-tools==7.5.2"
SERVICE_PACKAGES = ["libs/contracts", "libs/runtime", "tools/cli", "services/identity", "services/seats",
                    "services/notifications", "services/routing"]
DEV_PACKAGES = [*SERVICE_PACKAGES, "tools/devstack", "tools/testing"]
EXTRA_SERVICES = ["aiosmtpd==1.4.6"]  # the tools image's mail server
# What installs and builds the repository's own packages (`--no-build-isolation`), hashed too.
BUILD = ["pip==25.3", "setuptools==75.8.0", "wheel==0.45.1"]


def pins(packages: list[str]) -> list[str]:
    found = set()
    for package in packages:
        project = tomllib.loads((ROOT / package / "pyproject.toml").read_text())["project"]
        found |= {d for d in project.get("dependencies", []) if not d.startswith("crm-")}
    return sorted(found, key=str.lower)


def dev_extra() -> list[str]:
    lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def inputs() -> dict[str, str]:
    header = "# Written by scripts/lock.py from the pyprojects' pins; do not edit.\n"
    services = {*pins(SERVICE_PACKAGES), *EXTRA_SERVICES, *BUILD}
    dev = {*pins(DEV_PACKAGES), *dev_extra(), *EXTRA_SERVICES, *BUILD}
    return {"services.in": header + "\n".join(sorted(services, key=str.lower)) + "\n",
            "dev.in": header + "\n".join(sorted(dev, key=str.lower)) + "\n"}


def main(argv: list[str]) -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in inputs().items():
        (OUT / name).write_text(text)
    if "--inputs" in argv:
        return 0
    tools = ROOT / ".run" / "pip-tools"
    if not (tools / "bin" / "pip-compile").exists():
        subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
        subprocess.run([str(tools / "bin" / "pip"), "install", "-q", "pip==25.3", PIP_TOOLS], check=True)
    # PyPI only: a local wheel folder a machine's pip is told of (PIP_FIND_LINKS) is not a source.
    environment = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_NO_INDEX")}
    for name in ("services", "dev"):
        subprocess.run([str(tools / "bin" / "pip-compile"), "-q", "--generate-hashes", "--allow-unsafe",
                        "--strip-extras", "--no-emit-index-url", "--no-emit-find-links",
                        "--output-file", f"requirements/{name}.lock", f"requirements/{name}.in"],
                       check=True, cwd=ROOT, env=environment)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
