"""The migration that gave existing accounts' Enterprise instances a website names the same one the
code derives for new accounts, so a website's leads find the instance whichever made it."""

from __future__ import annotations

import pytest

from crm_testing.databases import scratch_database
from crm_identity.domain.accounts import website_id
from crm_runtime import db

pytestmark = pytest.mark.stack


async def test_the_migration_and_the_code_derive_the_same_website(stack):
    migrations = db.migrations_of("crm_identity")
    backfill = migrations.joinpath("0006_enterprise_website.sql").read_text()
    async with scratch_database(stack, "crm_identity_website", [("identity", migrations)]) as pool:
        ids = [f"ins_{n:04x}acct" for n in range(20)]
        await pool.executemany(
            """INSERT INTO accounts (account_id, name, tier, owner_user_id, owner_email, owner_first_name,
                                     owner_last_name, enterprise_instance_id)
               VALUES ($1, 'A', 'enterprise', 'o', 'o@x', 'O', 'P', $1)""", [(i,) for i in ids])
        await pool.executemany(
            """INSERT INTO instances (instance_id, account_id, kind, owner_user_id, package, name, parsing_email)
               VALUES ($1, $1, 'enterprise', 'o', 'enterprise', 'E', $1 || '@p')""", [(i,) for i in ids])
        await pool.execute(backfill)
        found = dict(await pool.fetch("SELECT instance_id, website_id FROM instances"))
    assert found == {i: website_id(i) for i in ids}
