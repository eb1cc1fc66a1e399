"""Reading the e-mails the stack sent: the Maildir, the relay's log, a message's HTML."""

from __future__ import annotations

from crm_devstack.waiting import eventually

import uuid
from email import message_from_bytes
from email.policy import default
from crm_devstack.stack.mailserver import stored_for


def mails_to(stack, address: str) -> list:
    return [message_from_bytes(path.read_bytes(), policy=default) for path in stored_for(stack.mail.maildir, address)]


def arrivals(stack, address: str) -> list[str]:
    log = stack.mail.maildir / "received.log"
    return [line.split("\t")[2].strip() for line in log.read_text().splitlines()
            if line.split("\t")[1] == address] if log.exists() else []


async def wait_mail(stack, address: str, timeout: float = 30) -> object:
    """The first e-mail to `address` in the Maildir, once there is one."""
    return (await eventually(lambda: mails_to(stack, address), timeout=timeout, every=0.2,
                             what=f"an e-mail to {address} in {stack.mail.maildir}"))[0]


def html_of(msg) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"
