"""`crm dlq`: dead letters — list, show, replay (byte for byte, to the topic they came from)."""

from __future__ import annotations


import typer
from rich.progress import Progress

from crm_contracts import TOPICS

from . import kafka
from .common import BOOTSTRAP, JSON, Listing, console, err, run

from .connection import Cluster

dlq = typer.Typer(help="Dead letters: list, show, replay.", no_args_is_help=True)


def _dlq_topics(topic: str | None) -> list[str]:
    if topic is None:
        return [t.dlq for t in TOPICS.values()]
    return [topic if topic.endswith(".dlq") else f"{topic}.dlq"]


@dlq.command("list")
def dlq_list(topic: str | None = typer.Argument(None, help="a topic or its .dlq (default: all)"),
             bootstrap: str | None = BOOTSTRAP, as_json: bool = JSON) -> None:
    """Every dead letter with its reason, where it came from and when."""

    async def go() -> int:
        listing = Listing("dead-letter topic", "partition", "offset", "reason", "from", "failed at", "error",
                          as_json=as_json)
        async for rec in kafka.read(Cluster.from_env(bootstrap), _dlq_topics(topic), start="beginning"):
            h = rec.headers
            listing.add(rec.topic, rec.partition, rec.offset, h.get("dlq_reason"),
                        f"{h.get('dlq_source_topic', '?')} {h.get('dlq_source_partition', '?')}/"
                        f"{h.get('dlq_source_offset', '?')}", h.get("dlq_failed_at"),
                        h.get("dlq_error", "") if as_json else h.get("dlq_error", "")[:80])
        listing.show()
        listing.say(f"{len(listing.rows)} dead letters")
        return 0

    run(go())


@dlq.command("show")
def dlq_show(topic: str, offset: int, partition: int | None = typer.Option(None, "--partition", "-p"),
             bootstrap: str | None = BOOTSTRAP) -> None:
    """One dead letter: its headers decoded and its value as it was received."""

    async def go() -> int:
        async for rec in kafka.read(Cluster.from_env(bootstrap), _dlq_topics(topic), start="beginning"):
            if rec.offset == offset and (partition is None or rec.partition == partition):
                for k, v in rec.headers.items():
                    console.print(f"[bold]{k}[/]: {v}")
                console.print("[bold]value[/]:")
                console.print((rec.value or b"").decode("utf-8", "replace"), markup=False)
                return 0
        err.print(f"[red]no dead letter at offset {offset} of {_dlq_topics(topic)[0]}[/]")
        return 1

    run(go())


def replay_target(dlq_topic: str, headers: dict[str, str]) -> tuple[str, str | None]:
    """A record of `X.dlq` goes back to `X` and nowhere else: the topic is the dead-letter topic's
    twin, never what the record's own headers say (whoever may write `X.dlq` must not be able to
    plant records on another topic). The second value says why it is not replayed, when not."""
    target = dlq_topic.removesuffix(".dlq")
    named = headers.get("dlq_source_topic")
    if named is not None and named != target:
        return target, f"its header names {named}, not {target}: not replayed"
    return target, None


@dlq.command("replay")
def dlq_replay(topic: str, offset: int | None = typer.Option(None, "--offset"),
               partition: int | None = typer.Option(None, "--partition", "-p"),
               everything: bool = typer.Option(False, "--all", help="replay every dead letter of the topic"),
               dry_run: bool = typer.Option(False, "--dry-run", help="say what would be replayed, send nothing"),
               bootstrap: str | None = BOOTSTRAP) -> None:
    """Publish dead letters back to where they came from, unchanged, with a header naming the replay.

    Replaying a record twice changes nothing: the consuming service's inbox knows its id."""
    if (offset is None) == (not everything):
        err.print("[red]say which: --offset N or --all[/]")
        raise typer.Exit(2)

    async def go() -> int:
        cluster = Cluster.from_env(bootstrap)
        chosen = [r async for r in kafka.read(cluster, _dlq_topics(topic), start="beginning")
                  if everything or (r.offset == offset and (partition is None or r.partition == partition))]
        if not chosen:
            err.print("[red]nothing to replay[/]")
            return 1
        if not everything and len(chosen) > 1:
            # An offset names a record only within its partition.
            # Read from several partitions at once, they come in any order; named in order.
            found = ", ".join(str(p) for p in sorted(r.partition for r in chosen))
            err.print(f"[red]offset {offset} is in partitions {found}: say which with --partition[/]")
            return 2
        refused = 0
        async with kafka.started(kafka.producer(cluster)) as producer:
            with Progress(console=console) as progress:
                task = progress.add_task("replaying", total=len(chosen))
                for rec in chosen:
                    source, why_not = replay_target(rec.topic, rec.headers)
                    if why_not is not None:
                        err.print(f"[red]{rec.topic} {rec.partition}/{rec.offset}: {why_not}[/]")
                        refused += 1
                        progress.advance(task)
                        continue
                    # Byte for byte as it first arrived: only the dead-letter headers are taken off.
                    headers = [(k, v) for k, v in rec.raw_headers if not k.startswith("dlq_")]
                    headers.append(("crm_replay_of", f"{rec.topic}/{rec.partition}/{rec.offset}".encode()))
                    line = f"{rec.topic} {rec.partition}/{rec.offset} → {source} key={rec.key}"
                    if not dry_run:
                        await producer.send_and_wait(source, rec.value, key=rec.raw_key, headers=headers)
                    progress.console.print(("would replay " if dry_run else "replayed ") + line)
                    progress.advance(task)
        return 1 if refused else 0

    run(go())


