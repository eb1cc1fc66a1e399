"""asyncpg queries for notifications' tables, a module per part; callers use `repository.<query>`."""

from __future__ import annotations

from .accounts import *  # noqa: F403
from .center import *  # noqa: F403
from .emails import *  # noqa: F403
