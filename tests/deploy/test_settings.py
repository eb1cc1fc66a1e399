"""Every setting an operator gives a service has a type and a range: a value out of it (a port 0, a
zero retry delay, an unknown security protocol, a symmetric token algorithm) stops the service at
start with the setting's name, instead of stalling it or weakening it later."""

from __future__ import annotations

import re
from typing import get_args, get_origin

import annotated_types
import pytest
from pydantic import ValidationError

from crm_identity.settings import IdentitySettings
from crm_notifications.settings import NotificationSettings
from crm_routing.settings import RoutingSettings
from crm_runtime.settings import ServiceSettings
from crm_seats.settings import SeatsSettings

EVERY = [ServiceSettings, IdentitySettings, NotificationSettings, RoutingSettings, SeatsSettings]


def _bounds(field) -> tuple[bool, bool]:
    lower = any(isinstance(m, annotated_types.Ge | annotated_types.Gt) for m in field.metadata)
    upper = any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in field.metadata)
    return lower, upper


@pytest.mark.parametrize("settings", EVERY, ids=lambda c: c.__name__)
def test_every_number_has_a_lower_and_an_upper_bound(settings):
    numbers = {name: field for name, field in settings.model_fields.items() if field.annotation in (int, float)}
    assert len(numbers) >= (20 if settings is ServiceSettings else 21)
    unbounded = [name for name, field in numbers.items() if _bounds(field) != (True, True)]
    assert unbounded == []


@pytest.mark.parametrize("settings", EVERY, ids=lambda c: c.__name__)
def test_every_choice_is_a_closed_list(settings):
    """Settings that pick among a few ways (a protocol, a level, an algorithm) name them all."""
    for name in ("kafka_security_protocol", "kafka_sasl_mechanism", "log_level", "event_loop"):
        assert get_origin(settings.model_fields[name].annotation) is not None, name
    [algorithm] = get_args(settings.model_fields["auth_algorithms"].annotation)
    assert "HS256" not in get_args(algorithm) and "none" not in get_args(algorithm)


@pytest.mark.parametrize(("settings", "env", "value"), [
    (ServiceSettings, "HTTP_PORT", "0"),
    (ServiceSettings, "RETRY_MAX_DELAY_S", "0"),
    (ServiceSettings, "HANDLER_ATTEMPTS", "0"),
    (ServiceSettings, "REVOKE_WAIT_S", "-1"),
    (ServiceSettings, "OFFSET_COMMIT_INTERVAL_S", "3600"),
    (ServiceSettings, "INBOX_KEEP_S", str(24 * 3600)),
    (ServiceSettings, "KAFKA_SECURITY_PROTOCOL", "SASL_SSLL"),
    (ServiceSettings, "KAFKA_SASL_MECHANISM", "GSSAPI"),
    (ServiceSettings, "LOG_LEVEL", "LOUD"),
    (ServiceSettings, "AUTH_ALGORITHMS", '["HS256"]'),
    (ServiceSettings, "AUTH_ALGORITHMS", "[]"),
    (IdentitySettings, "INVITATION_TTL_HOURS", "0"),
    (NotificationSettings, "SMTP_MAX_ATTEMPTS", "0"),
    (NotificationSettings, "DELIVERY_POLL_S", "0"),
    (RoutingSettings, "TIMER_POLL_S", "0"),
    (SeatsSettings, "BRIDGE_NUMBER_PREFIX", "15550"),
    (SeatsSettings, "BRIDGE_NUMBER_DIGITS", "11"),  # with +15550: 16 digits, one past E.164
    (SeatsSettings, "BRIDGE_NUMBER_COUNT", "1000001"),  # six digits number a million
])
def test_a_value_out_of_range_stops_the_service_naming_the_setting(settings, env, value, monkeypatch):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError, match=env.lower()):
        settings()


@pytest.mark.parametrize("settings", EVERY, ids=lambda c: c.__name__)
def test_the_defaults_are_in_range(settings):
    assert settings().fetch_max_records == 500


def test_the_edges_are_accepted(monkeypatch):
    for env, value in {"HTTP_PORT": "65535", "INBOX_KEEP_S": str(28 * 24 * 3600), "FETCH_MAX_WAIT_MS": "0",
                       "AUTH_ALGORITHMS": '["EdDSA"]', "BRIDGE_NUMBER_DIGITS": "10",
                       "BRIDGE_NUMBER_COUNT": str(10**10)}.items():
        monkeypatch.setenv(env, value)
    settings = SeatsSettings()
    assert (settings.http_port, settings.bridge_number_count, settings.auth_algorithms) == (65535, 10**10, ["EdDSA"])


def _shipped_environments() -> list[tuple[str, type, dict[str, str]]]:
    """Each service's environment as docker-compose.yml and the Kubernetes ConfigMap give it."""
    import yaml

    from crm_devstack.stack.layout import repo_root

    root = repo_root()
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    config = yaml.safe_load((root / "deploy/kubernetes/base/config.yaml").read_text())["data"]
    classes = {"identity": IdentitySettings, "seats": SeatsSettings, "notifications": NotificationSettings,
               "routing": RoutingSettings}
    return ([(f"compose-{name}", cls, compose[name]["environment"]) for name, cls in classes.items()]
            + [(f"kubernetes-{name}", cls, config) for name, cls in classes.items()])


@pytest.mark.parametrize(("where", "settings", "env"), _shipped_environments(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_shipped_environments_are_in_range(where, settings, env, monkeypatch):
    assert env, where
    for name, value in env.items():
        # Compose's `${VARIABLE:-default}` as compose reads it with the variable unset.
        monkeypatch.setenv(name, re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value)))
    settings()
