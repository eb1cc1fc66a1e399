"""Each service reaches PostgreSQL as a role of its own that owns its database and nothing else."""

from __future__ import annotations

import asyncpg
import pytest

from crm_devstack.stack import SERVICES

pytestmark = pytest.mark.stack


async def test_each_service_role_owns_its_database_and_no_other_database_lets_it_in(stack):
    if not stack.owns_parts:
        pytest.skip("an external server's roles are its operator's")
    for service in SERVICES:
        conn = await asyncpg.connect(stack.database_url(service))
        try:
            me, superuser, owner = await conn.fetchrow(
                """SELECT current_user, rolsuper, pg_get_userbyid(d.datdba) FROM pg_roles r, pg_database d
                   WHERE r.rolname = current_user AND d.datname = current_database()""")
            assert (me, superuser, owner) == (f"crm_{service}", False, f"crm_{service}")
            # Its migrations ran as itself: it owns every table it works with.
            foreign = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                       "AND tableowner <> current_user")
            assert not foreign, foreign
        finally:
            await conn.close()
        for other in SERVICES:
            if other == service:
                continue
            url = stack.database_url(service).rsplit("/", 1)[0] + f"/crm_{other}"
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await asyncpg.connect(url)
