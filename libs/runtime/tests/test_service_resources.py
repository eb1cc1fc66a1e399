"""A service's pool, producer and relay exist together from start to stop: asked for before, the
answer says the service has not started, never a None that fails later elsewhere."""

from __future__ import annotations

import pytest

from crm_runtime import db
from crm_runtime.handlers import Handlers
from crm_runtime.service import NotStarted, Service


@pytest.mark.parametrize("part", ["pool", "producer", "relay", "resources"])
def test_a_part_asked_for_before_start_says_so(part):
    svc = Service("unstarted", Handlers(), [], db.migrations_of("crm_runtime"))
    with pytest.raises(NotStarted, match="unstarted has not started"):
        getattr(svc, part)
