"""A real SMTP server on loopback that stores what it receives in a Maildir.

    python -m crm_devstack.stack.mailserver --port 2525 --maildir .run/mail [--tls-cert C --tls-key K]

With a certificate it offers STARTTLS and refuses mail before it (`530 Must issue a STARTTLS
command first`), as a relay that protects what it carries does; `certificate()` makes one for
127.0.0.1 and localhost.

People open the Maildir with any mail client (or `ls .run/mail/new`); tests read it. Like many
receiving systems it keeps the first message of a Message-ID and drops repeats, logging every
arrival to `received.log` (Message-ID, recipients, `stored` or `duplicate`, and the Maildir key of
what was stored). Recipients at `refused.example.com` are refused with 550, so a
refusing server can be tried without another program.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import signal
import ssl
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

REFUSED_DOMAIN = "refused.example.com"


class MaildirHandler:
    def __init__(self, root: Path) -> None:
        self.root = root
        # mailbox creates the three folders only when the root itself is new; a root made empty
        # beforehand (a mounted volume) would fail at the first listing.
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(str(root), create=True)
        self.received_log = root / "received.log"
        self.seen = self._stored_ids()

    def _stored_ids(self) -> set[str]:
        # The arrival log names what was stored; parsing every stored message instead made start-up
        # grow with the Maildir (45,000 messages took longer than the stack waits for the server).
        if not self.received_log.exists():
            return {str(m["Message-ID"]) for m in self.maildir if m["Message-ID"]}
        with self.received_log.open() as log:
            return {fields[0] for fields in (line.rstrip("\n").split("\t") for line in log)
                    if len(fields) >= 3 and fields[2] == "stored" and fields[0]}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd API
        if address.lower().endswith("@" + REFUSED_DOMAIN):
            return f"550 5.1.1 <{address}>: recipient refused"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        message = message_from_bytes(envelope.content, policy=default)
        # A plain string: the header object keeps its whole parse tree (a few KB a message, kept for ever).
        message_id = str(message["Message-ID"] or "")
        duplicate = bool(message_id) and message_id in self.seen
        key = None
        if not duplicate:
            key = self.maildir.add(envelope.content)
            self.seen.add(message_id)
        # The Maildir key of a stored message, so a reader finds one recipient's mail without
        # parsing every message (a soak leaves tens of thousands).
        fields = [message_id, ",".join(envelope.rcpt_tos), "stored" if key else "duplicate", *([key] if key else [])]
        with self.received_log.open("a") as log:
            log.write("\t".join(fields) + "\n")
        return "250 Message accepted for delivery"


def stored_for(maildir: Path, address: str) -> list[Path]:
    """The files of the messages stored for `address`, oldest first, found by the keys the arrival
    log names (without parsing the other messages)."""
    log = maildir / "received.log"
    paths = []
    for fields in (line.split("\t") for line in (log.read_text().splitlines() if log.exists() else [])):
        if len(fields) >= 4 and fields[2] == "stored" and address in fields[1].split(","):
            paths += [*(maildir / "new").glob(fields[3] + "*"), *(maildir / "cur").glob(fields[3] + "*")]
    return paths


def certificate(folder: Path, names: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, localhost and `names` (a container's host name on
    its network), made once and kept in `folder`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    if cert_file.exists() and key_file.exists():
        return cert_file, key_file
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crm-platform local SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([*(x509.DNSName(n) for n in ("localhost", *names)),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_file, key_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    args = parser.parse_args()
    tls: dict[str, Any] = {}
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(MaildirHandler(args.maildir), hostname=args.host, port=args.port, **tls)
    controller.start()
    print(f"SMTP on {args.host}:{args.port}{' (STARTTLS required)' if tls else ''}, storing in Maildir "
          f"{args.maildir}", flush=True)
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
