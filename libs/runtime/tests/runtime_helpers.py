"""What the runtime's tests against the live stack share."""

from __future__ import annotations

from crm_contracts import CloudEvent, command, identity

SERVICE = "runtimetest"


def group_created(account_id: str, group_id: str) -> CloudEvent:
    # A type no service acts on, so publishing it in tests disturbs nobody.
    return command(identity.GroupCreated(group_id=group_id, name=group_id, parent_group_id=None),
                   source="crm/runtimetest", accountid=account_id)
