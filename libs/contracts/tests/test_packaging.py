"""crm-contracts as other teams install it: dependencies as ranges their own pins can meet, and a
wheel that builds from the source tree and carries the contract."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def test_dependencies_are_ranges_with_an_upper_bound_not_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        spec = Requirement(line).specifier
        operators = {s.operator for s in spec}
        assert "==" not in operators and "===" not in operators, f"{line}: a pin conflicts with another team's"
        assert "<" in operators and (">=" in operators or ">" in operators), f"{line}: give a lower and upper bound"


def test_it_builds_as_a_wheel_with_the_contract_inside(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=240)
    [wheel] = tmp_path.glob("crm_contracts-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "crm_contracts/envelope.py" in names and "crm_contracts/registry.py" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    assert requires and all("==" not in line for line in requires)
