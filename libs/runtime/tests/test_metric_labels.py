"""The services' metrics keep clear of the labels a Prometheus scrape adds to every series
(Kubernetes discovery and the Prometheus operator): a clash would be renamed or overwritten."""

from __future__ import annotations

from prometheus_client import REGISTRY

from crm_runtime import metrics

ADDED_BY_THE_SCRAPE = {"service", "job", "instance", "namespace", "pod", "container", "endpoint"}


def test_no_metric_of_ours_uses_a_label_the_scrape_adds():
    ours = [m for m in REGISTRY.collect() if m.name.startswith("crm_")]
    assert len(ours) >= 8
    for metric in (metrics.MESSAGES_HANDLED, metrics.OUTBOX_BACKLOG, metrics.HANDLER_LATENCY):
        assert "crm_service" in metric._labelnames
    for family in ours:
        labels = {name for sample in family.samples for name in sample.labels}
        assert not labels & ADDED_BY_THE_SCRAPE, (family.name, labels)
    declared = {name for value in vars(metrics).values() if hasattr(value, "_labelnames")
                for name in value._labelnames}
    assert not declared & ADDED_BY_THE_SCRAPE, declared
