"""What every `crm` command shares: the consoles, the bootstrap option, running a command with its
exit code, and how a record is printed."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Coroutine
from typing import Any

import typer
from rich.console import Console

from crm_contracts import TOPICS

from . import kafka
from .lines import describe, style_of


console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
# aiokafka reports each refused connection itself; the command says it once, with what to do.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

BOOTSTRAP = typer.Option(None, "--bootstrap", "-b", envvar="CRM_KAFKA_BOOTSTRAP_SERVERS",
                         help="Kafka bootstrap servers (SASL/TLS: see CRM_KAFKA_* in docs/operations.md)")
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


