"""A real SMTP server on loopback that stores what it receives in a Maildir.

    python -m crm_devstack.mailserver --port 2525 --maildir .run/mail

People open the Maildir with any mail client (or `ls .run/mail/new`); tests read it. Like many
receiving systems it keeps the first message of a Message-ID and drops repeats, logging every
arrival to `received.log`. Recipients at `refused.example.com` are refused with 550, so a
refusing server can be tried without another program.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import signal
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller

REFUSED_DOMAIN = "refused.example.com"


class MaildirHandler:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.maildir = mailbox.Maildir(str(root), create=True)
        self.received_log = root / "received.log"
        self.seen = {m["Message-ID"] for m in self.maildir if m["Message-ID"]}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd API
        if address.lower().endswith("@" + REFUSED_DOMAIN):
            return f"550 5.1.1 <{address}>: recipient refused"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        message = message_from_bytes(envelope.content, policy=default)
        message_id = message["Message-ID"] or ""
        duplicate = bool(message_id) and message_id in self.seen
        with self.received_log.open("a") as log:
            log.write(f"{message_id}\t{','.join(envelope.rcpt_tos)}\t{'duplicate' if duplicate else 'stored'}\n")
        if not duplicate:
            self.maildir.add(envelope.content)
            self.seen.add(message_id)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    controller = Controller(MaildirHandler(args.maildir), hostname=args.host, port=args.port)
    controller.start()
    print(f"SMTP on {args.host}:{args.port}, storing in Maildir {args.maildir}", flush=True)
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    asyncio.run(wait())
    controller.stop()


if __name__ == "__main__":
    main()
