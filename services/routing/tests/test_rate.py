"""The Open API's limit on unknown keys per address, at the number the service is set to."""

from __future__ import annotations

import uuid

from crm_routing.web import rate


def test_an_address_is_stopped_after_its_settings_number_of_unknown_keys():
    address, other = f"10.0.0.{uuid.uuid4().int % 250}", f"fd00::{uuid.uuid4().hex[:4]}"
    for _ in range(3):
        assert rate.address_refused(address, 3) is None
        rate.missed(address, 3)
    assert int(rate.address_refused(address, 3)) >= 1  # told when to come back
    assert rate.address_refused(other, 3) is None  # another address is not affected
    assert rate.address_refused(address, 100_000) is None  # a service set higher lets it ask on
