"""Seats' settings: the shared ones, and the pool bridge numbers are given from."""

from __future__ import annotations

from crm_runtime.settings import ServiceSettings


class SeatsSettings(ServiceSettings):
    # Bridge numbers: `prefix` followed by `digits` digits, the first `count` of them. The default is
    # a block in the unassigned 555 area code, for local stacks and tests; production sets its
    # carrier's block. A large block keeps users' derived slots from colliding (see take_bridge_number).
    bridge_number_prefix: str = "+15550"
    bridge_number_digits: int = 6
    bridge_number_count: int = 1_000_000
