"""The one-shot job that prepares a container stack (docker-compose.yml's `init`, the fixtures'
first container): what `make up` makes on the host before it starts the services.

    python -m crm_devstack.stack.container_init --run /var/lib/crm --kafka kafka:19092 --owner 10001

In the shared run folder: the development token keys, the invitation seal pair, the mail server's
certificate (for `mail`, its name on the network), the Maildir and push-log folders, all owned by
the services' user. Then the topics from libs/contracts, once the broker answers. It imports only
what the tools image carries (no plotting or profiling packages).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from crm_cli import tokens
from crm_runtime import sealed
from crm_runtime.topics import ensure_topics

from .mailserver import certificate


def prepare(run: Path, owner: int | None, mail_host: str) -> None:
    auth = run / "auth"
    tokens.ensure_dev_keys(auth)
    sealed.ensure_keys(auth)
    certificate(run / "mail-tls", names=(mail_host,))
    for folder in ("mail", "push", "logs"):
        (run / folder).mkdir(parents=True, exist_ok=True)
    if owner is not None:
        for path in [run, *run.rglob("*")]:
            os.chown(path, owner, owner)


async def topics(kafka: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await ensure_topics(kafka)
        except Exception as exc:  # the broker is still starting: any failure until the deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka at {kafka} did not answer in {timeout:.0f}s: {exc!r}") from exc
            await asyncio.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("/var/lib/crm"))
    parser.add_argument("--kafka", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "kafka:19092"))
    parser.add_argument("--owner", type=int, default=None, help="uid (and gid) the services run as")
    parser.add_argument("--mail-host", default="mail")
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()
    prepare(args.run, args.owner, args.mail_host)
    print(f"keys, certificate and folders ready in {args.run}", flush=True)
    created = asyncio.run(topics(args.kafka, args.timeout))
    print(f"{len(created)} topics created on {args.kafka}", flush=True)


if __name__ == "__main__":
    main()
