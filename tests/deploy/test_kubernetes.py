"""The Kubernetes base: generated from one description, valid against the Kubernetes schemas
(kubernetes-validate, strict: an unknown field is an error), and saying what an operator needs."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

from crm_devstack import openapi_doc
from crm_devstack.kubernetes_manifests import BASE, files
from crm_devstack.stack.layout import SERVICES, repo_root
from crm_runtime.topics import PARTITIONS

VERSION = "1.33.0"  # the oldest Kubernetes release still supported upstream when this was written


def _documents() -> list[dict]:
    folder = repo_root() / BASE
    return [doc for name in sorted(files()) if name != "kustomization.yaml"
            for doc in yaml.safe_load_all((folder / name).read_text())]


def test_the_checked_in_manifests_are_what_the_description_writes():
    folder = repo_root() / BASE
    for name, text in files().items():
        assert (folder / name).read_text() == text, f"{name} is stale: python -m crm_devstack.kubernetes_manifests"


@pytest.mark.parametrize("version", [VERSION, kubernetes_validate.latest_version()])
def test_every_resource_is_valid_against_the_kubernetes_schemas(version):
    documents = _documents()
    assert len(documents) == 1 + 4 * len(SERVICES)
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_refuses_a_misspelt_probe():
    deployment = copy.deepcopy(next(d for d in _documents() if d["kind"] == "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)


def test_each_service_has_probes_resources_a_budget_and_lag_scaling():
    by_kind: dict[str, dict[str, dict]] = {}
    for doc in _documents():
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    for service in SERVICES:
        name = f"crm-{service}"
        container = by_kind["Deployment"][name]["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        # Liveness must not follow Kafka or the database: a restart would not bring them back.
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert container["startupProbe"]["httpGet"]["path"] == "/livez"
        served = openapi_doc.document(service)["paths"]
        assert all(container[p]["httpGet"]["path"] in served for p in ("startupProbe", "livenessProbe", "readinessProbe"))
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        assert container["securityContext"]["runAsNonRoot"] is True
        assert by_kind["PodDisruptionBudget"][name]["spec"]["minAvailable"] == 1
        hpa = by_kind["HorizontalPodAutoscaler"][name]["spec"]
        assert hpa["maxReplicas"] == PARTITIONS  # a group has no use for more members than partitions
        assert hpa["metrics"][0]["external"]["metric"]["selector"]["matchLabels"]["consumergroup"] == name
