"""Seats' settings: the shared ones, and the pool bridge numbers are given from."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from crm_runtime.settings import ServiceSettings


class SeatsSettings(ServiceSettings):
    # Bridge numbers: `prefix` followed by `digits` digits, the first `count` of them. The default is
    # a block in the unassigned 555 area code, for local stacks and tests; production sets its
    # carrier's block. A large block keeps users' derived slots from colliding (see take_bridge_number).
    bridge_number_prefix: str = Field(default="+15550", pattern=r"^\+[1-9][0-9]{0,13}$")
    bridge_number_digits: int = Field(default=6, ge=1, le=14)
    bridge_number_count: int = Field(default=1_000_000, ge=1, le=10**14)

    @model_validator(mode="after")
    def _numbers_fit(self) -> Self:
        """An E.164 number has at most 15 digits, and a block of `digits` digits at most 10^digits numbers."""
        if len(self.bridge_number_prefix) - 1 + self.bridge_number_digits > 15:
            raise ValueError("bridge_number_prefix and bridge_number_digits: more than E.164's 15 digits")
        if self.bridge_number_count > 10 ** self.bridge_number_digits:
            raise ValueError(f"bridge_number_count: more than {self.bridge_number_digits} digits can number")
        return self
