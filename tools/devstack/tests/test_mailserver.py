"""The development mail server keeps what a long run needs and nothing more: one plain string per
stored Message-ID, and a restart that knows what was stored from its arrival log."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

from crm_devstack.stack.mailserver import MaildirHandler


def _envelope(message_id: str) -> SimpleNamespace:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "a@crm.example", "b@example.com", "hi", message_id
    m.set_content("hello")
    return SimpleNamespace(content=m.as_bytes(), rcpt_tos=["b@example.com"])


def _deliver(handler: MaildirHandler, message_id: str) -> None:
    asyncio.run(handler.handle_DATA(None, None, _envelope(message_id)))


def test_seen_ids_are_plain_strings(tmp_path: Path) -> None:
    handler = MaildirHandler(tmp_path / "mail")
    _deliver(handler, "<one@crm.example>")
    # A parsed header object held here kept its parse tree: about 6 KB a message for ever.
    assert [type(x) for x in handler.seen] == [str]
    assert handler.seen == {"<one@crm.example>"}


def test_restart_reads_what_was_stored_from_the_arrival_log(tmp_path: Path) -> None:
    first = MaildirHandler(tmp_path / "mail")
    _deliver(first, "<one@crm.example>")
    _deliver(first, "<two@crm.example>")
    _deliver(first, "<one@crm.example>")
    # Stored messages are not parsed again at start: one that is no longer in the Maildir still counts.
    for f in (tmp_path / "mail" / "new").iterdir():
        f.unlink()
    again = MaildirHandler(tmp_path / "mail")
    assert again.seen == {"<one@crm.example>", "<two@crm.example>"}
    _deliver(again, "<two@crm.example>")
    assert (tmp_path / "mail" / "received.log").read_text().splitlines()[-1].endswith("\tduplicate")
    assert not list((tmp_path / "mail" / "new").iterdir())
