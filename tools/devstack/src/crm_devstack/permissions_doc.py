"""docs/permissions.md, rendered from the four services' policies (`domain/policy.py`) and the
model they share (`crm_contracts.permissions`): `python -m crm_devstack.permissions_doc` writes it,
`--check` fails when the checked-in copy is not what the code decides."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

from crm_contracts.permission_matrix import COLUMNS, cell, scenarios
from crm_contracts.permissions import Action, Permission
from crm_identity.domain import policy as identity
from crm_notifications.domain import policy as notifications
from crm_routing.domain import policy as routing
from crm_seats.domain import policy as seats

POLICIES: list[ModuleType] = [identity, seats, notifications, routing]
DOC = Path(__file__).resolve().parents[4] / "docs" / "permissions.md"
HTTP_COLUMNS = [c for c in COLUMNS if c != "service"]  # platform services do not call the HTTP side

HEAD = """# Who may see and do what

The platform's one permission model, rendered from the code that enforces it
(`crm_contracts/permissions.py` and each service's `domain/policy.py`) by
`python -m crm_devstack.permissions_doc`; a test fails when this file and the code differ, and the
live matrix suite (`tests/e2e/test_permission_matrix.py`) asks every route of the running services
as each person below and expects these answers.

**How a request or a command is decided**, in this order:

1. an **operator** (`crm.operator` scope) reads anything and changes nothing (`operator_read_only`);
2. an **Open API key** reaches only the Open API of its own instance (`invalid_api_key`, 401);
   a command that names no person is accepted only where a **platform service** sends it
   (`actor_required`), and a person may not send what only the platform sends (`system_only`);
3. a person must be **of the account** the thing is in (`not_in_account`) and able to sign in:
   display-only (`display_only_member`), pending (`member_pending`) and deactivated
   (`member_inactive`) members may do nothing. The seed: Display Only users "do not have access to
   Lofty";
4. a **cancelled instance** takes no change (`instance_cancelled`) and, after its read-only days,
   no read (`instance_closed`, 410); a **frozen** one (its owner deactivated) takes no invitation,
   and its account's admins may read its roster, hand it over or cancel it;
5. the **permission** the action needs, from the person's role in the account and the instance;
   the refusal names it.

Every command or record naming an instance, lead, member or key of another account than its
message's is refused `not_in_account`; an unknown one is answered as unknown. Where the seeds
speak, they decide (quoted in the last column); where they are silent, the least privilege a
brokerage would expect, marked "our choice".

**The people** (columns). One account: its Enterprise instance **E** has every active person; its
private instance **P** is owned by `p_owner`. The E lead is `agent`'s, the P lead `p_agent`'s.

| column | who |
| --- | --- |
""" + "\n".join(f"| `{c}` | {who} |" for c, who in COLUMNS.items()) + """

**Permissions.**

| permission | who holds it |
| --- | --- |
| `account_admin` | the account's owner and its active admins |
| `account_member` | any active person of the account |
| `yourself` | a person about themselves |
| `yourself_or_account_admin` | a person about themselves; the account's admins about anyone in it |
| `instance_member` | the instance's members (its owner included); on E the account's admins; on a frozen P the account's admins |
| `instance_admin` | P's owner and `admin` members; on E the account's owner and admins |
| `instance_owner` | P's owner; the account's admins once P is frozen |
| `lead_organisation`, `routing_rules` | P's owner, `admin` and `lead_manager` members; on E the account's owner and admins |
| `lead_work` | those, or the lead's holder for their own lead (and the instance's key where marked) |
| `lead_transfer` | the lead's holder or the source's organisers, into an instance they belong to; an E lead into a private instance only by the account's admins |
| `agent_pause` | `routing_rules`, or a member about themselves |
| `api_key` | an API key of the instance |
| `system` | a platform service, naming no person |
| `public` | anyone: the invitation page (its link is the secret) and an account's public roster |

A cell is ✓ (allowed) or the refusal's reason; `—` where the person cannot ask at all.
"""


def _table(actions: dict[str, Action], columns: list[str]) -> list[str]:
    head = ["action", "needs", *[f"`{c}`" for c in columns], "why"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for action in actions.values():
        for label, target, yourself in scenarios(action):
            cells = []
            for column in columns:
                decision = cell(action, column, target, yourself)
                cells.append("✓" if decision.allowed else decision.reason)
            name = f"`{action.name}`" + (f" {label}" if label else "")
            needs = action.permission.value + (" or key" if action.api_key else "") + (
                f" ({action.system})" if action.permission is Permission.SYSTEM else "")
            lines.append("| " + " | ".join([name, needs, *cells, action.note.replace("|", "/")]) + " |")
    return lines


def render() -> str:
    out = [HEAD]
    for policy in POLICIES:
        out += [f"## {policy.SERVICE}", "", "### HTTP routes", "", *_table(policy.ROUTES, HTTP_COLUMNS), "",
                "### Commands", "", *_table(policy.COMMANDS, list(COLUMNS)), ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run `python -m crm_devstack.permissions_doc`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
