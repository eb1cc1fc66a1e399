"""The two reference pipelines `make bench` compares the project's runtime against.

Both keep the runtime's guarantees for `identity.account.create`-shaped commands — the contract's
validation, an inbox row, the state row and an outbox row in one transaction, an idempotent
`acks=all` publish, the row marked, the offset committed only after — with none of its machinery:

- `batched`: aiokafka `getmany`; per partition batch one transaction with one statement each for
  inbox, state and outbox; the batch published without awaiting each record; one offset commit.
  What this machine allows; the runtime's target is half of it.
- `per_message`: the same, one record at a time: a transaction, a `send_and_wait` and an offset
  commit per message. The naive peer.

Run as its own process (`python -m crm_devstack.bench.loops MODE COUNT GROUP`), as a service would be; it
prints `ready` once its partitions are assigned and exits after handling COUNT commands.
"""

from __future__ import annotations

import asyncio
import sys

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from crm_contracts import CloudEvent, event_caused_by, identity

from ..stack import Stack

COMMANDS = "bench.commands.v1"
EVENTS = "bench.events.v1"
DATABASE = "crm_bench"
SCHEMA = """
DROP TABLE IF EXISTS bench_inbox, bench_accounts, bench_outbox;
CREATE TABLE bench_inbox (consumer text, event_id text, PRIMARY KEY (consumer, event_id));
CREATE TABLE bench_accounts (account_id text PRIMARY KEY, name text NOT NULL, tier text NOT NULL,
                             owner_user_id text NOT NULL, owner_email text NOT NULL);
CREATE TABLE bench_outbox (id bigserial PRIMARY KEY, event_id text NOT NULL UNIQUE, topic text NOT NULL,
                           key text NOT NULL, payload bytea NOT NULL, published_at timestamptz);
"""


def _answer(message: CloudEvent, cmd: identity.CreateAccount) -> CloudEvent:
    return event_caused_by(message, identity.AccountCreated(
        account_id=cmd.account_id, tier=cmd.tier, enterprise_instance_id=f"ins_{cmd.account_id}",
        owner_user_id=cmd.owner.user_id, name=cmd.name), source="crm/bench")


async def _handle(conn: asyncpg.Connection, records) -> list[tuple[int, CloudEvent]]:
    """Inbox, state and outbox for `records` in the caller's transaction; returns the staged events."""
    messages = [CloudEvent.model_validate_json(r.value) for r in records]
    cmds = [identity.CreateAccount.model_validate(m.data) for m in messages]
    fresh = {r["event_id"] for r in await conn.fetch(
        """INSERT INTO bench_inbox SELECT 'bench', unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING event_id""",
        [m.id for m in messages])}
    todo = [(m, c) for m, c in zip(messages, cmds, strict=True) if m.id in fresh]
    if not todo:
        return []
    await conn.execute(
        """INSERT INTO bench_accounts SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
           ON CONFLICT DO NOTHING""",
        [c.account_id for _, c in todo], [c.name for _, c in todo], [c.tier.value for _, c in todo],
        [c.owner.user_id for _, c in todo], [c.owner.email for _, c in todo])
    events = [_answer(m, c) for m, c in todo]
    ids = await conn.fetch(
        """INSERT INTO bench_outbox (event_id, topic, key, payload)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) RETURNING id""",
        [e.id for e in events], [EVENTS] * len(events), [e.key for e in events], [e.to_json() for e in events])
    return [(r["id"], e) for r, e in zip(ids, events, strict=True)]


async def _batched(pool, producer, consumer, tp: TopicPartition, records) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction():
            staged = await _handle(conn, records)
        sends = [await producer.send(EVENTS, e.to_json(), key=e.key.encode()) for _, e in staged]
        await asyncio.gather(*sends)
        await conn.execute("UPDATE bench_outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                           [i for i, _ in staged])
    await consumer.commit({tp: records[-1].offset + 1})


async def _per_message(pool, producer, consumer, tp: TopicPartition, records) -> None:
    async with pool.acquire() as conn:
        for record in records:
            async with conn.transaction():
                staged = await _handle(conn, [record])
            for outbox_id, event in staged:
                await producer.send_and_wait(EVENTS, event.to_json(), key=event.key.encode())
                await conn.execute("UPDATE bench_outbox SET published_at = now() WHERE id = $1", outbox_id)
            await consumer.commit({tp: record.offset + 1})


async def main(mode: str, count: int, group: str) -> None:
    stack = Stack()
    dsn = stack.database_url("bench")
    pool = await asyncpg.create_pool(dsn, min_size=6, max_size=6)
    await pool.execute(SCHEMA)
    producer = AIOKafkaProducer(**stack.kafka.args(), enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(COMMANDS, **stack.kafka.args(), group_id=group,
                                enable_auto_commit=False, auto_offset_reset="latest", max_poll_records=500)
    await producer.start()
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    for tp in consumer.assignment():
        await consumer.position(tp)
    print("ready", flush=True)
    step = _batched if mode == "batched" else _per_message
    done = 0
    try:
        while done < count:
            batch = await consumer.getmany(timeout_ms=100)
            await asyncio.gather(*(step(pool, producer, consumer, tp, recs) for tp, recs in batch.items()))
            done += sum(len(r) for r in batch.values())
    finally:
        await consumer.stop()
        await producer.stop()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
