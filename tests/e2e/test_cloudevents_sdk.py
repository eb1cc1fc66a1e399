"""What other teams' CloudEvents code reads: the official Python SDK (cloudevents 2.x, from PyPI)
parses every record `crm publish` writes and every record the services answer with, in the mode
the Kafka binding tells a receiver to pick from the `content-type` header (structured, for
`application/cloudevents+json`), and finds our envelope in it attribute for attribute."""

from __future__ import annotations

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat

from interop_steps import records_of_every_writer

STRUCTURED = b"application/cloudevents+json"


def read_as_the_binding_says(rec) -> object:
    headers = {name: value or b"" for name, value in rec.raw_headers}
    assert headers.get("content-type", b"").startswith(b"application/cloudevents"), (
        f"{rec.topic} record without a structured content type: {headers}")
    message = ce_kafka.KafkaMessage(headers=headers, key=rec.key.encode() if rec.key else None, value=rec.value)
    return ce_kafka.from_structured(message, JSONFormat())


async def test_the_sdk_reads_what_the_cli_publishes_and_what_the_services_answer(stack, bus, account_id):
    records = await records_of_every_writer(stack, bus, account_id)
    for rec in records:
        ours, theirs = rec.event, read_as_the_binding_says(rec)
        assert (theirs.get_id(), theirs.get_type(), theirs.get_source(), theirs.get_specversion()) == (
            ours.id, ours.type, ours.source, "1.0")
        assert theirs.get_extension("accountid") == account_id
        assert theirs.get_extension("correlationid") == ours.correlationid
        assert theirs.get_extension("partitionkey") == rec.key
        assert theirs.get_data() == ours.data
