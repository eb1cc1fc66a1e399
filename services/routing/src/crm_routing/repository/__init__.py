"""asyncpg queries for routing's tables, a module per part; callers name the module: `repository.<module>.<query>`."""

from __future__ import annotations

from . import common, leads, organisation, roster

__all__ = ['common', 'leads', 'organisation', 'roster']
