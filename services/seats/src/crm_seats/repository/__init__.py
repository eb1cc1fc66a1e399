"""asyncpg queries for seats' tables, a module per part; callers name the module: `repository.<module>.<query>`."""

from __future__ import annotations

from . import calls, ledger, purchases

__all__ = ['calls', 'ledger', 'purchases']
