"""asyncpg queries for identity's tables, a module per aggregate; callers use `repository.<query>`."""

from __future__ import annotations

from .accounts import *  # noqa: F403
from .instances import *  # noqa: F403
from .invitations import *  # noqa: F403
