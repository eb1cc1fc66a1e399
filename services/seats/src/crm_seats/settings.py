"""Seats' settings: the shared ones, and the pool bridge numbers are given from."""

from __future__ import annotations

from crm_runtime.settings import ServiceSettings


class SeatsSettings(ServiceSettings):
    # Bridge numbers: `prefix` followed by `digits` digits, the first `count` of them. The default is
    # a block of numbers in the unassigned 555 area code, for local stacks and tests; production
    # sets its carrier's block.
    bridge_number_prefix: str = "+1555019"
    bridge_number_digits: int = 4
    bridge_number_count: int = 1000
