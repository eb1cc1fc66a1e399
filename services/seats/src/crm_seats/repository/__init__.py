"""asyncpg queries for seats' tables, a module per part; callers use `repository.<query>`."""

from __future__ import annotations

from .calls import *  # noqa: F403
from .ledger import *  # noqa: F403
from .purchases import *  # noqa: F403
