"""Value types shared by several services' messages."""

from __future__ import annotations

from pydantic import BaseModel, Field

Id = Field(min_length=1, max_length=200)


class CommandRejected(BaseModel):
    """A well-formed command that broke a rule; `reason` is a stable snake_case code."""

    command_id: str
    command_type: str
    reason: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    message: str
