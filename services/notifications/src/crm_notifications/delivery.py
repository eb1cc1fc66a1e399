"""Hands queued e-mails to SMTP and pushes to the push provider, then records the outcome.

E-mail guarantee: at least once to the SMTP server, with a Message-ID that is the same on every
attempt. A crash after the server accepted a message and before `sent` was recorded sends it
again with that Message-ID; the bundled mail server keeps the first and drops the repeat, as many
receiving systems do. Nothing is dropped silently: a message ends `sent` (notifications.email.sent)
or `failed` (notifications.email.failed, with the error) after retries with back-off.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib
import asyncpg

from crm_contracts import event_caused_by
from crm_contracts.notifications import EmailFailed, EmailSent, PushSent
from crm_runtime import faults, logs, outbox
from crm_runtime.retry import Backoff
from crm_runtime.sealed import CannotOpen

from . import repository
from .domain.push import payload as push_payload
from .domain.templates import fill_token, text_version
from .settings import NotificationSettings

log = logs.get(__name__)
SERVICE = "notifications"


class PermanentFailure(Exception):
    """The server refused for good (5xx): retrying cannot help."""


class Mailer:
    def __init__(self, settings: NotificationSettings) -> None:
        self.settings = settings

    async def send(self, row: asyncpg.Record) -> None:
        subject, body = row["subject"], row["html"]
        if row["sealed_token"]:
            # Opened here, in memory, for this one send; the row keeps only the sealed form.
            try:
                token = self.settings.opener.open(row["sealed_token"])
            except CannotOpen as exc:
                raise PermanentFailure(f"the invitation token cannot be opened: {exc}") from None
            subject, body = fill_token(subject, token), fill_token(body, token)
        msg = EmailMessage()
        msg["From"] = self.settings.smtp_from
        msg["To"] = row["to_address"]
        msg["Subject"] = subject
        msg["Message-ID"] = row["message_id"]
        msg.set_content(text_version(body))
        msg.add_alternative(body, subtype="html")
        try:
            # aiosmtplib's timeout is per step; the deadline bounds the whole exchange, so the send
            # ends before its lease does (settings.email_lease_s).
            async with asyncio.timeout(self.settings.smtp_send_deadline_s):
                await aiosmtplib.send(msg, hostname=self.settings.smtp_host, port=self.settings.smtp_port,
                                      timeout=self.settings.smtp_timeout_s, **self.settings.smtp_tls_args())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise PermanentFailure(f"{exc.code} {exc.message}") from exc
            raise


class PushProvider(Protocol):
    async def send(self, push: dict) -> None: ...


class RecordingPushProvider:
    """Stands in for APNs/FCM: appends each push as a JSON line that people and tests can read."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    async def send(self, push: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(push, default=str) + "\n")


class DeliveryWorker:
    def __init__(self, pool: asyncpg.Pool, settings: NotificationSettings, mailer: Mailer | None = None,
                 push: PushProvider | None = None, handover: outbox.Handover | None = None) -> None:
        self.pool = pool
        self.handover = handover  # the events it stages, for this process's relay
        self.settings = settings
        self.mailer = mailer or Mailer(settings)
        self.push = push or RecordingPushProvider(settings.push_log_path)

    def _delay(self, attempts: int) -> float:
        s = self.settings
        return min(s.smtp_retry_first_delay_s * 2 ** (attempts - 1), s.smtp_retry_max_delay_s)

    async def run(self) -> None:
        backoff = Backoff(0.5, 5.0)
        while True:
            # The database away: rows stay queued.
            busy = await backoff.retrying(self._pass, log=log, event="delivery_pass_failed")
            if not busy:
                await asyncio.sleep(self.settings.delivery_poll_s)

    async def _pass(self) -> int:
        return await self.deliver_emails() + await self.deliver_pushes()

    async def deliver_emails(self) -> int:
        async with self.pool.acquire() as conn:
            rows = await repository.emails.claim_due_emails(conn, 20, lease_s=self.settings.email_lease_s)
        await asyncio.gather(*(self._deliver_email(r) for r in rows))
        return len(rows)

    async def _deliver_email(self, row: asyncpg.Record) -> None:
        cause = repository.center.cause_of(row)
        try:
            await self.mailer.send(row)
        except Exception as exc:
            permanent = isinstance(exc, PermanentFailure)
            error = f"{type(exc).__name__}: {exc}"
            if permanent or row["attempts"] >= self.settings.smtp_max_attempts:
                async with self.pool.acquire() as conn, conn.transaction():
                    await repository.emails.mark_email(conn, row["message_id"], "failed", error)
                    await outbox.stage(conn, SERVICE, event_caused_by(cause, EmailFailed(
                        to=row["to_address"], template=row["template"], cause_event_id=row["cause_event_id"],
                        error=error), source="crm/notifications", subject=row["message_id"]), self.handover)
                log.warning("email_failed", message_id=row["message_id"], error=error, attempts=row["attempts"])
            else:
                at = datetime.now(UTC) + timedelta(seconds=self._delay(row["attempts"]))
                async with self.pool.acquire() as conn:
                    await repository.emails.retry_email_at(conn, row["message_id"], at, error)
                log.info("email_retry", message_id=row["message_id"], error=error, attempts=row["attempts"])
            return
        faults.crash_after_send(row["to_address"])
        async with self.pool.acquire() as conn, conn.transaction():
            await repository.emails.mark_email(conn, row["message_id"], "sent")
            await outbox.stage(conn, SERVICE, event_caused_by(cause, EmailSent(
                message_id=row["message_id"], to=row["to_address"], template=row["template"],
                cause_event_id=row["cause_event_id"]), source="crm/notifications", subject=row["message_id"]), self.handover)
        log.info("email_sent", message_id=row["message_id"], template=row["template"])

    async def deliver_pushes(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await repository.center.pending_pushes(conn, 50)
            sent = []
            for row in rows:
                cause = repository.center.cause_of(row)
                # A crash after the provider call and before commit repeats the push: the push id
                # goes with it so a device can drop the repeat.
                await self.push.send(push_payload(dict(row)))
                await repository.center.mark_push_sent(conn, row["push_id"])
                sent.append(event_caused_by(cause, PushSent(
                    notification_id=row["notification_id"], user_id=row["user_id"], device_id=row["device_id"],
                    instance_id=row["instance_id"], source_instance_name=row["instance_name"],
                    cause_event_id=cause.id), source="crm/notifications",
                    subject=row["user_id"], instanceid=row["instance_id"]))
            await outbox.stage_many(conn, SERVICE, sent, self.handover)
        return len(rows)
