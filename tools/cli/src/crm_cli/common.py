"""What every `crm` command shares: the consoles, the bootstrap option, running a command with its
exit code, and how a record is printed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import time
from collections.abc import Coroutine
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from crm_contracts import TOPICS

from . import kafka
from .lines import describe, style_of


# Piped into a file or another program, Rich would cut tables at 80 columns: a pipe gets the
# width COLUMNS asks for, else one wide enough for any row.
console = Console(highlight=False, soft_wrap=True,
                  width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 1000)
err = Console(stderr=True, highlight=False, soft_wrap=True)
# aiokafka reports each refused connection itself; the command says it once, with what to do.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

BOOTSTRAP = typer.Option(None, "--bootstrap", "-b", envvar="CRM_KAFKA_BOOTSTRAP_SERVERS",
                         help="Kafka bootstrap servers (SASL/TLS: see CRM_KAFKA_* in docs/operations.md)")
JSON = typer.Option(False, "--json", help="one JSON object per row, for scripts")
SERVICES = {"identity": 8001, "seats": 8002, "notifications": 8003, "routing": 8004}


def run(work: Coroutine[Any, Any, int | None]) -> None:
    """Run a command; turn what a person can act on into one line and an exit code."""
    try:
        code = asyncio.run(work)
    except kafka.Unreachable as exc:
        err.print(f"[red]cannot reach Kafka[/]: {exc}. Is it running (make up), or are --bootstrap / "
                  "CRM_KAFKA_* right?")
        raise typer.Exit(3) from None
    except kafka.UnknownTopic as exc:
        err.print(f"[red]{exc}[/]. Topics of the contract: {', '.join(sorted(TOPICS))} (and each .dlq)")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code or 0)


class Listing:
    """The rows of a listing: a table for people, or with `--json` one JSON object per row (the
    column names as keys, the values unstyled), for scripts."""

    def __init__(self, *columns: str, as_json: bool, **table_options: Any) -> None:
        self.columns = columns
        self.as_json = as_json
        self.rows: list[dict[str, Any]] = []
        self.styles: list[dict[str, str]] = []
        self.table_options = table_options

    def add(self, *values: Any, styles: dict[str, str] | None = None) -> None:
        """A row, value for value in column order; `styles` colours named cells in the table."""
        self.rows.append(dict(zip(self.columns, values, strict=True)))
        self.styles.append(styles or {})

    def show(self) -> None:
        if self.as_json:
            for row in self.rows:
                print(json.dumps({re.sub(r"[^a-z0-9]+", "_", k): v for k, v in row.items()}, default=str), flush=True)
            return
        table = Table(*self.columns, **self.table_options)
        for row, styles in zip(self.rows, self.styles, strict=True):
            table.add_row(*(_cell(row[c], styles.get(c)) for c in self.columns))
        console.print(table)

    def say(self, text: str, **options: Any) -> None:
        """A line under the table (totals, what happens next); not part of the JSON output."""
        if not self.as_json:
            console.print(text, **options)


def _cell(value: Any, style: str | None) -> str:
    text = "-" if value is None else str(value)
    return f"[{style}]{text}[/]" if style else text


def since_ms(since: str) -> int:
    m = re.fullmatch(r"(\d+)([smhd])", since)
    if not m:
        raise typer.BadParameter("use a number and s, m, h or d, e.g. 10m")
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return int((time.time() - seconds) * 1000)


def print_record(rec: kafka.Rec, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"topic": rec.topic, "partition": rec.partition, "offset": rec.offset, "key": rec.key,
                          "headers": rec.headers,
                          "event": rec.event.model_dump(mode="json") if rec.event else None,
                          "value": None if rec.event else (rec.value or b"").decode("utf-8", "replace")}),
              flush=True)
        return
    if rec.event is None:
        reason = rec.headers.get("dlq_reason", "unreadable")
        console.print(f"{'':12}  {rec.topic:<34} key={rec.key} dlq_reason={reason} "
                      f"error={rec.headers.get('dlq_error', '')[:120]}", style=style_of(rec.topic, None))
        return
    extra = f" dlq_reason={rec.headers['dlq_reason']}" if "dlq_reason" in rec.headers else ""
    console.print(f"{rec.topic:<26} {describe(rec.event)}{extra}", style=style_of(rec.topic, rec.event.type))


