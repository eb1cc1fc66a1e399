"""What every chapter of the demo's story shares: the stack, the bus, the account and its
people, and how a step is shown (the command, then every record it caused)."""

from __future__ import annotations

import asyncio

import httpx
from crm_cli.lines import describe_record
from rich.console import Console

from ..bus import Bus
from ..stack import Stack

console = Console(highlight=False, soft_wrap=True)


def answered(response: httpx.Response | None) -> str:
    return str(response.status_code) if response is not None else "nothing to confirm"


class Scenes:
    # Set by the story as it goes: its stack and bus, the account and its people, the team
    # instance, the invitation links, the enterprise instance and its opening event.
    stack: Stack
    bus: Bus
    account: str
    user: dict[str, str]
    team: dict
    links: dict[str, str]
    opened: dict
    enterprise: str
    _shown: int

    def show(self) -> None:
        for record in self.bus.records[self._shown:]:
            arrow = "→" if record.topic.endswith("commands.v1") or record.topic == "leads.captured.v1" else "←"
            style = "cyan" if arrow == "→" else ("red" if "rejected" in record.topic or
                                                  record.topic.endswith(".dlq") else "green")
            console.print(f"[{style}]{arrow} {describe_record(record)}[/]")
        self._shown = len(self.bus.records)

    async def step(self, title: str, data, wait_for: str, count: int = 1, **where) -> list:
        console.rule(f"[bold]{title}")
        cmd = await self.bus.command(data, accountid=self.account)
        events = await self.bus.wait_event(wait_for, correlationid=cmd.correlation, count=count, timeout=30)
        await asyncio.sleep(0.3)  # let the rest of the answer arrive before printing
        self.show()
        return events
