"""asyncpg queries for routing's tables, a module per part; callers use `repository.<query>`."""

from __future__ import annotations

from .leads import *  # noqa: F403
from .organisation import *  # noqa: F403
from .roster import *  # noqa: F403
