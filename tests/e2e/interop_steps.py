"""Records of every writer for one account, for the tests that read them with other teams'
CloudEvents SDKs: `crm publish`'s own command, and each service's answers."""

from __future__ import annotations

import asyncio
import json
import sys

from crm_contracts import leads, notifications, seats
from crm_devstack.dates import period_args


async def records_of_every_writer(stack, bus, account_id: str) -> list:
    data = {"account_id": account_id, "name": "SDK Realty", "tier": "enterprise",
            "owner": {"user_id": f"{account_id}_o", "email": "o@example.com", "first_name": "O", "last_name": "P"}}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crm_cli.main", "publish", "identity.account.create", "--account", account_id,
        "--data", json.dumps(data), "-b", stack.bootstrap, env=stack.kafka.cli_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    await bus.wait_event("identity.account.created", where=lambda e: e.accountid == account_id)
    # One command to each other service through the test client (which writes as the CLI does),
    # so every service's own records are read too: an answer or a rejection, whichever it is.
    others = [seats.SetSubscription(seats_total=1, seat_price_cents=1, currency="USD", **period_args()),
              leads.LeadCaptured(lead_id=f"lead_{account_id}", channel="manual", instance_id=f"ins_{account_id}",
                                 lead={"first_name": "Sue"}),
              notifications.ReadNotifications(user_id=f"{account_id}_o", instance_id=f"ins_{account_id}")]
    for data in others:
        cmd = await bus.command(data, accountid=account_id)
        await bus.wait_for(lambda r, cmd=cmd: r.event is not None and r.event.correlationid == cmd.id
                           and r.topic.endswith(".events.v1"))
    await stack.settled()
    records = bus.matching(lambda r: r.event is not None and r.event.accountid == account_id)
    assert {r.topic for r in records} >= {f"{s}.events.v1" for s in ("identity", "seats", "routing", "notifications")}
    assert "identity.account.create" in {r.event.type for r in records}  # the CLI's own record
    return records
