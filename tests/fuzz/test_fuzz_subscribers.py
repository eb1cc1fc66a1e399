"""Every subscriber under malformed and boundary records (hypothesis): bytes, JSON, envelopes and
each field of each message type at and past its limits. No record may crash a service or stop its
partition: every one ends handled, rejected, dead-lettered, ignored or a duplicate — through the
real runtime, each service's real handlers and a real PostgreSQL database of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_contracts import MESSAGES
from crm_testing.databases import scratch_database
from crm_testing.records import consumer_record

pytestmark = pytest.mark.stack

SERVICES = {}
for name in ("identity", "seats", "notifications", "routing"):
    module = __import__(f"crm_{name}.app", fromlist=["service"])
    SERVICES[name] = module.service()

OUTCOMES = {"handled", "rejected", "dead_lettered", "ignored", "duplicate"}
# Dead letters that mean a handler (or the runtime) failed, not that the record was unreadable:
# none is acceptable for any record, and a valid record is never dead-lettered at all.
HANDLER_FAULTS = {"handler_error", "unprocessable", "timeout"}
ODD_VALUES = [None, "", " ", "\x00", "x" * 5000, "é😀\u202e", -1, 0, 2**31, 2**63, -(2**63) - 1, 1e308, True,
              [], {}, [None], {"a": {"b": {"c": []}}}, "2026-02-30", "+1", "acc_" + "a" * 300]


def _sample(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A minimal valid value of a JSON Schema (what pydantic generates for the contract)."""
    if "$ref" in schema:
        return _sample(defs[schema["$ref"].split("/")[-1]], defs)
    if "anyOf" in schema:
        return _sample(next(x for x in schema["anyOf"] if x.get("type") != "null"), defs)
    if "enum" in schema:
        return schema["enum"][0]
    t = schema.get("type")
    if t == "object" and "properties" in schema:
        return {k: _sample(v, defs) for k, v in schema["properties"].items() if k in schema.get("required", [])}
    if t == "object":
        return {"x": 1} if schema.get("minProperties") else {}
    if t == "array":
        return [_sample(schema.get("items", {"type": "string"}), defs)] * max(1, schema.get("minItems", 0))
    if t == "integer":
        return max(1, schema.get("minimum", 0))
    if t == "boolean":
        return True
    return {"email": "a@example.com", "date": "2026-11-01", "date-time": "2026-11-01T00:00:00Z"}.get(
        schema.get("format"), "USD" if "A-Z" in schema.get("pattern", "") else "x")


def _valid_data(type_: str) -> dict[str, Any]:
    schema = MESSAGES[type_].model.model_json_schema()
    return _sample(schema, schema.get("$defs", {}))


def _types_of(service) -> list[str]:
    topics = {t.name for t in service.consumes}
    return sorted(t for t, spec in MESSAGES.items() if spec.topic.name in topics)


@st.composite
def records(draw, service_name: str) -> tuple[str, bytes, list[tuple[str, bytes]], str]:
    """(topic, value, headers, kind) of one record a subscriber of `service_name` might receive;
    kind `valid` is a well-formed message of a type the service reads."""
    service = SERVICES[service_name]
    type_ = draw(st.sampled_from(_types_of(service)))
    topic = MESSAGES[type_].topic.name
    kind = draw(st.sampled_from(["bytes", "json", "envelope", "field", "attribute", "valid"]))
    if kind == "bytes":
        return topic, draw(st.binary(max_size=300)), [], kind
    if kind == "json":
        value = draw(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                                  lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                                       max_size=4), max_leaves=12))
        return topic, json.dumps(value).encode(), [], kind
    envelope = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "fuzz", "type": type_,
                "time": "2026-11-24T00:00:00Z", "accountid": "acc_fuzz_" + uuid.uuid4().hex[:6],
                "correlationid": str(uuid.uuid4()), "data": _valid_data(type_)}
    if kind == "field" and envelope["data"]:
        field = draw(st.sampled_from(sorted(envelope["data"])))
        if draw(st.booleans()):
            envelope["data"][field] = draw(st.sampled_from(ODD_VALUES))
        else:
            del envelope["data"][field]
    elif kind == "attribute":
        attribute = draw(st.sampled_from(["id", "type", "accountid", "specversion", "time", "data", "instanceid"]))
        envelope[attribute] = draw(st.sampled_from(ODD_VALUES))
    elif kind == "envelope":
        envelope = {k: v for k, v in envelope.items() if draw(st.booleans())}
    headers = [("ce_type", type_.encode())] if draw(st.booleans()) else []
    if kind == "valid" and not _accepted(type_, envelope["data"]):
        kind = "schema_sample"  # fits the schema but not a rule across fields (e.g. period_end > period_start)
    return topic, json.dumps(envelope).encode(), headers, kind


def _accepted(type_: str, data: dict[str, Any]) -> bool:
    try:
        MESSAGES[type_].model.model_validate(data)
        return True
    except ValidationError:
        return False


@pytest.fixture(scope="module")
async def processors(stack, producer):
    """Each service's batch processor on a scratch database of its own."""
    async with contextlib.AsyncExitStack() as stack_of_databases:
        out = {}
        for name, service in SERVICES.items():
            pool = await stack_of_databases.enter_async_context(
                scratch_database(stack, f"crm_fuzz_{name}", [(name, service.migrations)], max_size=4))
            service.processor.pool, service.processor.producer = pool, producer
            service.processor.attempts = 1
            out[name] = service.processor
        yield out


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


async def _feed(processor, batch: list[tuple[str, bytes, list, str]]) -> None:
    # One partition's batch holds records of one topic; a poison record never stops the ones after it.
    by_topic: dict[str, list] = {}
    for topic, value, headers, kind in batch:
        by_topic.setdefault(topic, []).append((value, headers, kind))
    for topic, items in by_topic.items():
        recs = [consumer_record(v, topic=topic, offset=i, key="acc_fuzz", headers=h)
                for i, (v, h, _) in enumerate(items)]
        outcomes = await asyncio.wait_for(processor.process(recs), 30)
        assert len(outcomes) == len(recs)
        for outcome, (_, _, kind) in zip(outcomes, items, strict=True):
            assert outcome.name in OUTCOMES, outcome
            assert not (outcome.name == "dead_lettered" and outcome.reason in HANDLER_FAULTS), (kind, outcome)
            assert kind != "valid" or outcome.name != "dead_lettered", outcome


def _fuzz(service_name: str):
    @FUZZ
    @given(batch=st.lists(records(service_name), min_size=1, max_size=6))
    async def test(processors, batch):
        await _feed(processors[service_name], batch)
    test.__name__ = f"test_{service_name}_takes_any_record"
    return test


test_identity_takes_any_record = _fuzz("identity")
test_seats_takes_any_record = _fuzz("seats")
test_notifications_takes_any_record = _fuzz("notifications")
test_routing_takes_any_record = _fuzz("routing")
