"""The hashed lockfiles are current: their inputs are what the pyprojects pin now, every pin is
locked at its version, and every locked package carries the hashes `--require-hashes` checks."""

from __future__ import annotations

import importlib.util
import re

from crm_devstack.stack.layout import repo_root

ROOT = repo_root()


def lock_script():
    spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def locked(name: str) -> dict[str, tuple[str, int]]:
    """package -> (version, number of hashes)."""
    text = (ROOT / "requirements" / name).read_text()
    out = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        if found := re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block):
            out[found.group(1).lower().replace("_", "-")] = (found.group(2), block.count("--hash=sha256:"))
    return out


def test_the_inputs_are_what_the_pyprojects_pin_now():
    for name, text in lock_script().inputs().items():
        assert (ROOT / "requirements" / name).read_text() == text, f"{name} is stale: python scripts/lock.py"


def test_every_pin_is_locked_at_its_version_with_hashes():
    for name in ("services", "dev"):
        lock = locked(f"{name}.lock")
        assert all(hashes >= 1 for _, hashes in lock.values()), name
        pins = [line for line in (ROOT / "requirements" / f"{name}.in").read_text().splitlines() if "==" in line]
        assert pins
        for pin in pins:
            package, version = pin.split("==")
            assert lock.get(package.lower().replace("_", "-"), ("missing", 0))[0] == version, (
                f"{pin} not in {name}.lock: python scripts/lock.py")
