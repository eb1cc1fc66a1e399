"""`crm-stack up|down|status|logs`: the local stack for people (the Makefile calls these)."""

from __future__ import annotations

import asyncio
import subprocess

import typer
from rich.console import Console
from rich.table import Table

from .stack import SERVICES, Stack, current
from .stack.kafka_jars import FetchFailed
from .stack.processes import alive, read_pid

app = typer.Typer(help="Run crm-platform locally: Kafka, PostgreSQL and the four services.",
                  no_args_is_help=True)
console = Console()


@app.command()
def up() -> None:
    """Install what is missing, start everything, return when every service is healthy."""
    try:
        asyncio.run(Stack().up(say=console.print))
    except FetchFailed as exc:
        console.print(f"[red]cannot start Kafka[/]: {exc}")
        raise typer.Exit(1) from None
    console.print("[bold green]crm-platform is up[/] — `make status`, `make logs`, `make down`")


@app.command()
def demo() -> None:
    """Run the agent opt-in story on the running stack and print it as readable lines."""
    from .demo.run import run

    run()


@app.command()
def bench(count: int = typer.Option(2000, help="commands per burst"), rounds: int = typer.Option(3),
          rates: str = typer.Option("100,200,500,1000,2000", help="offered loads to sweep, commands/s"),
          seconds: float = typer.Option(4.0, help="how long each offered load is held"),
          only: str = typer.Option(None, help="only one flow's figures: 'routing', 'create', 'accept', 'replicas', "
                                                "'reads' (HTTP reads), 'tracing' (off and on) or "
                                                "'anchor' (beside the pipeline as plain loops)")) -> None:
    """The pipeline beside the batched plain loop and the per-message loop; latency against offered load."""
    from .bench.plan import main

    asyncio.run(main(count, rounds, [float(r) for r in rates.split(",")], seconds, only))


@app.command()
def chaos(scenarios: list[str] = typer.Argument(None, help="only these (prefixes: poison, identity, seats, kafka, group, "
                                                              "postgres, …); default: all")) -> None:
    """Faults under load with the promises checked from outside; exits 1 when one is broken."""
    from .chaos.run import main

    raise typer.Exit(asyncio.run(main(scenarios)))


@app.command()
def soak(minutes: float = typer.Option(20.0, envvar="SOAK_MINUTES", help="how long the load runs"),
         accounts_per_s: int = typer.Option(2, envvar="SOAK_ACCOUNTS_PER_S", help="account sagas started a second"),
         leads_per_s: int = typer.Option(10, envvar="SOAK_LEADS_PER_S", help="leads sent a second")) -> None:
    """A steady mixed load sampled every minute (memory, files, tables, lag, latency), then the
    promises of `chaos` checked and a verdict on growth; exits 1 when a promise is broken."""
    from .soak.run import main

    raise typer.Exit(asyncio.run(main(minutes, accounts_per_s, leads_per_s)))


compose_app = typer.Typer(help="docker-compose.yml on the machine's engine (Docker, or podman).",
                          no_args_is_help=True)
app.add_typer(compose_app, name="compose")


@compose_app.command("up")
def compose_up() -> None:
    """Bring docker-compose.yml up in stages (after `make images`); returns when every service is healthy."""
    from .stack.containers import compose_up as bring_up

    asyncio.run(bring_up(say=console.print))
    console.print("[bold green]crm-platform is up in containers[/] — `make demo`, `make test`, "
                  "`make compose-down`")


@compose_app.command("down")
def compose_down() -> None:
    """Stop and remove docker-compose.yml's containers (the run folder .run/compose stays)."""
    from .stack.containers import compose_down as take_down

    take_down(say=console.print)


@app.command()
def down() -> None:
    """Stop every process `up` started (services, Kafka, PostgreSQL)."""
    Stack().down(say=console.print)


@app.command()
def restart(services: list[str] = typer.Argument(None, help="services to restart (default: all four)")) -> None:
    """Restart services (after a code change), returning when each is healthy again."""
    stack = current()
    for service in services or SERVICES:
        if service not in SERVICES:
            console.print(f"[red]no service {service!r}[/]; one of {', '.join(SERVICES)}")
            raise typer.Exit(2)
        stack.services.stop(service)
        stack.services.start(service)
        asyncio.run(stack.health.wait(service))
        console.print(f"{service} restarted, pid {stack.services.pid(service)}")


@app.command("stop")
def stop_component(component: str = typer.Argument(..., help="kafka, postgres or a service"),
                   replica: int = typer.Option(1, help="which replica of a service"),
                   broker: int = typer.Option(None, help="kafka: only this broker of the cluster (1-3)"),
                   kill: bool = typer.Option(False, "--kill", help="as a crash would: SIGKILL, or PostgreSQL's "
                                             "immediate shutdown")) -> None:
    """Stop one component of the running stack (for fault drills: `make chaos` uses the same)."""
    try:
        stopped = current().stop_component(component, replica=replica, kill=kill, broker=broker)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    name = component if broker is None else f"{component} broker {broker}"
    console.print(f"{name} {'killed' if kill else 'stopped'}" if stopped else f"{name} was not running")


@app.command("start")
def start_component(component: str = typer.Argument(..., help="kafka, postgres or a service"),
                    replica: int = typer.Option(1, help="which replica of a service (2, 3: extra replicas)"),
                    broker: int = typer.Option(None, help="kafka: only this broker of the cluster (1-3)")) -> None:
    """Start one component again; returns once it answers."""
    try:
        asyncio.run(current().start_component(component, replica=replica, broker=broker))
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"{component if broker is None else f'{component} broker {broker}'} is up")


@app.command()
def status() -> None:
    """What runs, with PIDs and health."""
    stack = Stack()
    table = Table("component", "pid", "state", "detail")
    pg_pid = read_pid(stack.postgres.data / "postmaster.pid")
    table.add_row("postgres", str(pg_pid or "-"), _state(alive(pg_pid)), stack.admin_url)
    for node in stack.nodes:
        kafka_pid = stack.kafka.pid(node)
        table.add_row(stack.kafka_name(node), str(kafka_pid or "-"), _state(bool(kafka_pid)),
                      f"127.0.0.1:{stack.broker_port(node)}")
    mail_pid = read_pid(stack.pids / "mail.pid")
    table.add_row("smtp", str(mail_pid or "-"), _state(alive(mail_pid)),
                  f"127.0.0.1:{stack.smtp_port} → Maildir {stack.mail.maildir}")
    for service in SERVICES:
        pid = stack.services.pid(service)
        report = asyncio.run(stack.health.report(service)) if pid else None
        detail = stack.http(service)
        if report:
            detail += f" outbox backlog {report.get('outbox_backlog', '?')}"
            detail += "".join(f"\n{problem}" for problem in report.get("problems", []))
        healthy = report is not None and report.get("status") == "ok"
        table.add_row(service, str(pid or "-"), _state(bool(pid), healthy), detail)
    console.print(table)


@app.command()
def logs(component: str = typer.Argument("all", help="kafka, postgres, a service, or all"),
         lines: int = 40) -> None:
    """The last lines of each log under .run/logs."""
    stack = current()
    names = (["postgres", *map(stack.kafka_name, stack.nodes), "mail", *SERVICES] if component == "all"
             else [component])
    for name in names:
        path = stack.logs / f"{name}.log"
        console.rule(str(path))
        if path.exists():
            console.print(subprocess.run(["tail", "-n", str(lines), str(path)], capture_output=True,
                                         text=True).stdout, markup=False, highlight=False)


def _state(running: bool, healthy: bool | None = None) -> str:
    if not running:
        return "[red]stopped[/]"
    if healthy is False:
        return "[yellow]running, unhealthy[/]"
    return "[green]running[/]" if healthy is None else "[green]healthy[/]"


if __name__ == "__main__":
    app()
