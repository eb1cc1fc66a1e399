"""asyncpg queries for notifications' tables, a module per part; callers name the module: `repository.<module>.<query>`."""

from __future__ import annotations

from . import accounts, center, emails

__all__ = ['accounts', 'center', 'emails']
