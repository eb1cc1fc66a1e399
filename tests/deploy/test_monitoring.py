"""deploy/monitoring, checked by Prometheus's own promtool: the alert rules parse and each fires
on the series it is about (alerts.test.yml), every query of the Grafana dashboard parses, both
name only metrics the services export, and what a service exports passes promtool's lint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY

from crm_runtime import metrics  # noqa: F401 - registers every metric of the services
from crm_devstack.stack.layout import repo_root

FOLDER = repo_root() / "deploy" / "monitoring"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    found = shutil.which("promtool")
    assert found, "promtool not found: install Debian's prometheus package (scripts/bootstrap.sh does)"
    return subprocess.run([found, *args], capture_output=True, text=True, input=stdin, cwd=FOLDER, timeout=60)


def dashboard_queries() -> list[str]:
    board = json.loads((FOLDER / "dashboard.json").read_text())
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def exported() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("crm_"):
            suffixes = ("_bucket", "_count", "_sum") if family.type == "histogram" else ("_total",) \
                if family.type == "counter" else ("",)
            names |= {family.name + s for s in suffixes} | {family.name}
    return names


def test_the_alert_rules_parse_and_fire_on_what_they_are_about():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_dashboard_query_parses(tmp_path):
    queries = dashboard_queries()
    assert len(queries) >= 10
    # Grafana's variables, as Grafana would fill them in, then each query as a recording rule.
    filled = [q.replace("$__rate_interval", "5m").replace("$crm_service", ".*") for q in queries]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"crm_dashboard:q{n}", "expr": q}
                                                        for n, q in enumerate(filled)]}]}
    (tmp_path / "dashboard-rules.yml").write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(tmp_path / "dashboard-rules.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_and_dashboard_name_only_metrics_the_services_export():
    alerts = [r["expr"] for g in yaml.safe_load((FOLDER / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    named = {m for q in [*alerts, *dashboard_queries()] for m in re.findall(r"\bcrm_[a-z_]+", q)}
    named -= {"crm_service"}  # the label
    assert named and named <= exported(), named - exported()


@pytest.mark.stack
def test_what_a_service_exports_passes_promtools_lint(stack):
    for service in ("identity", "routing"):
        text = httpx.get(stack.http(service) + "/readyz").raise_for_status() and \
            httpx.get(stack.http(service) + "/metrics").text
        assert "crm_consumer_lag{" in text and "crm_http_request_seconds_bucket{" in text
        assert "crm_outbox_oldest_age_seconds{" in text
        crm_only = "\n".join(line for line in text.splitlines()
                             if re.match(r"^(# (HELP|TYPE) )?crm_", line)) + "\n"
        linted = promtool("check", "metrics", stdin=crm_only)
        assert linted.returncode == 0, linted.stdout + linted.stderr
