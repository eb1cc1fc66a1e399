"""A slow SMTP server and two delivery workers (two replicas) on one database: every step of the
exchange answers within the per-step timeout, the whole exchange takes longer than three of them,
and the e-mail is still sent once — the lease outlasts the send's own deadline."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
from aiosmtpd.controller import Controller

from crm_contracts import command, identity
from crm_notifications import repository
from crm_notifications.delivery import DeliveryWorker
from crm_notifications.settings import NotificationSettings
from crm_runtime import db
from crm_testing.databases import scratch_database

pytestmark = pytest.mark.stack

STEP_S = 0.45  # each SMTP step's answer; the per-step timeout below is 0.5 s


class Slow:
    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd API
        await asyncio.sleep(STEP_S)
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        await asyncio.sleep(STEP_S)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        await asyncio.sleep(STEP_S)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        await asyncio.sleep(STEP_S)
        self.delivered.append(envelope.rcpt_tos[0])
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def pool(stack):
    async with scratch_database(stack, "crm_notifications_slow_smtp",
                                [("notifications", db.migrations_of("crm_notifications"))]) as pool:
        yield pool


@pytest.fixture
def slow_server():
    handler, port = Slow(), free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    yield handler, port
    server.stop()


async def queued(pool) -> tuple[str, str]:
    cause = command(identity.AcceptInvitation(token="t"), source="test", accountid="acc_slow")
    to = f"{uuid.uuid4().hex[:8]}@example.com"
    async with pool.acquire() as conn:
        return to, await repository.emails.queue_email(conn, account_id="acc_slow", template="seat_upgrade", to=to,
                                                subject="Hi", html="<p>Hi</p>", cause=cause)


async def test_a_send_past_its_deadline_is_cut_and_retried_later(pool, slow_server):
    handler, port = slow_server
    settings = NotificationSettings(smtp_port=port, smtp_tls="off", smtp_timeout_s=0.5, smtp_send_deadline_s=1.0)
    _, message_id = await queued(pool)
    await DeliveryWorker(pool, settings, push=None).deliver_emails()
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, attempts, last_error FROM emails WHERE message_id = $1", message_id)
    assert (row["status"], row["attempts"]) == ("pending", 1) and "TimeoutError" in row["last_error"]
    assert settings.email_lease_s > settings.smtp_send_deadline_s


async def test_two_workers_send_a_slow_e_mail_once(pool, slow_server):
    handler, port = slow_server
    settings = NotificationSettings(smtp_port=port, smtp_tls="off", smtp_timeout_s=0.5, delivery_poll_s=0.05)
    to, message_id = await queued(pool)
    workers = [DeliveryWorker(pool, settings, push=None) for _ in range(2)]

    async def keep_delivering(worker: DeliveryWorker) -> None:
        for _ in range(80):  # 4 s of passes, long past the exchange (about 2 s)
            await worker.deliver_emails()
            await asyncio.sleep(settings.delivery_poll_s)

    await asyncio.gather(*(keep_delivering(w) for w in workers))
    assert handler.delivered == [to]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM emails WHERE message_id = $1", message_id) == "sent"
