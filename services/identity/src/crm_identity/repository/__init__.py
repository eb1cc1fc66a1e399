"""asyncpg queries for identity's tables, a module per aggregate; callers name the module: `repository.<module>.<query>`."""

from __future__ import annotations

from . import accounts, instances, invitations

__all__ = ['accounts', 'instances', 'invitations']
