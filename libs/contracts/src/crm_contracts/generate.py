"""Write the JSON Schema of every type, one AsyncAPI 3 document for all topics, and a readable page.

    crm-contracts-generate [--check] [--out DIR]

With --check nothing is written; the exit code is 1 when the checked-in files differ from
what the models make, so CI fails on a stale copy, or when a model breaks a released topic version
(`compat`: a field removed, a type narrowed, a field made required) without the break being
accepted. Writing also records the models as released (`history/`), once nothing breaks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import MESSAGES, TOPICS, compat
from .envelope import CloudEvent
from .registry import Direction

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "generated"
SCHEMA_ID = "https://schemas.crm-platform.example/v1/"


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def envelope_schema() -> dict[str, Any]:
    schema = CloudEvent.model_json_schema()
    schema["$id"] = SCHEMA_ID + "cloudevent.json"
    return schema


def type_schema(type_: str) -> dict[str, Any]:
    """The full record value of one type: the envelope with `type` fixed and `data` typed."""
    spec = MESSAGES[type_]
    data = spec.model.model_json_schema(ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    envelope = envelope_schema()
    envelope.pop("$id")
    envelope["properties"]["type"] = {"const": type_, "type": "string"}
    envelope["properties"]["data"] = data
    envelope["$defs"] = {**envelope.get("$defs", {}), **defs}
    if not envelope["$defs"]:
        envelope.pop("$defs")
    envelope["$id"] = SCHEMA_ID + f"{type_}.json"
    envelope["title"] = type_
    envelope["description"] = spec.description
    envelope["x-topic"] = spec.topic.name
    return envelope


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS.values():
        channel_id = topic.name.replace(".", "_")
        refs = {}
        for type_ in sorted(topic.types):
            msg_id = type_.replace(".", "_")
            refs[msg_id] = {"$ref": f"#/components/messages/{msg_id}"}
            messages[msg_id] = {
                "name": type_,
                "title": type_,
                "summary": MESSAGES[type_].description,
                "contentType": "application/cloudevents+json",
                "payload": {"$ref": f"schemas/{type_}.json"},
                "headers": {
                    "type": "object",
                    "properties": {"ce_type": {"type": "string", "const": type_}},
                },
                "bindings": {"kafka": {"key": {"type": "string", "description": topic.key_rule.value}}},
            }
        channels[channel_id] = {
            "address": topic.name,
            "description": f"{topic.description} Keyed by {topic.key_rule.value}. "
            f"Malformed records are copied to {topic.dlq}.",
            "messages": refs,
        }
        # The platform's view: commands are what a service receives, events what it sends.
        action = "receive" if topic.direction is Direction.COMMANDS else "send"
        operations[f"{topic.owner}_{action}_{channel_id}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{topic.owner} {action}s {topic.name}",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "crm-platform",
            "version": "1.0.0",
            "description": "Agent seat opt-in, private team instances and lead routing. "
            "Every record value is a CloudEvents 1.0 JSON event.",
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


_CONSTRAINTS = {"minimum": "≥ {}", "maximum": "≤ {}", "exclusiveMinimum": "> {}", "minLength": "length ≥ {}",
                "maxLength": "length ≤ {}", "minItems": "items ≥ {}", "maxItems": "items ≤ {}",
                "pattern": "matches `{}`", "format": "{}"}


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    return str(prop.get("type", "any"))


def _fields(schema: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    rows = ["| field | type | required | constraints |", "|---|---|---|---|"]
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        limits = [fmt.format(prop[k]) for k, fmt in _CONSTRAINTS.items() if k in prop]
        for alt in prop.get("anyOf", []):
            limits += [fmt.format(alt[k]) for k, fmt in _CONSTRAINTS.items() if k in alt]
        rows.append(f"| `{name}` | {_type_of(prop)} | {'yes' if name in required else 'no'} | {', '.join(limits)} |")
    return rows


def markdown() -> str:
    """The contract as a page a person reads: topics, keys, every type and its fields."""
    out = ["# Wire contract (v1)", "",
           "Generated from `libs/contracts` by `make contracts` — do not edit; `make test` fails when it is stale.",
           "The machine-readable forms beside it: `asyncapi.json` and `schemas/<type>.json`.", "",
           "Every record value is one CloudEvent 1.0 in structured JSON mode. Record key: `accountid`, except on",
           "topics keyed by `instanceid` (below). Header `ce_type` repeats `type`. A command is answered by events",
           "carrying its `correlationid` (or its `id`): the effect, or `<service>.command.rejected` with a stable",
           "`reason`. A record that cannot be read is copied unchanged to `<topic>.dlq` with `dlq_*` headers",
           "(`dlq_reason`, `dlq_error`, `dlq_source_topic`, `dlq_source_partition`, `dlq_source_offset`,",
           "`dlq_consumer_group`, `dlq_failed_at`); a command among them is also answered with a rejection.", "",
           "## Envelope", "", *_fields(envelope_schema(), {}), "", "## Topics", "",
           "| topic | direction | keyed by | owner | dead letters |", "|---|---|---|---|---|"]
    for t in sorted(TOPICS.values(), key=lambda t: t.name):
        out.append(f"| `{t.name}` | {t.direction.value} | `{t.key_rule.value}` | {t.owner} | `{t.dlq}` |")
    for t in sorted(TOPICS.values(), key=lambda t: t.name):
        out += ["", f"## {t.name}", "", t.description]
        for type_ in sorted(t.types):
            spec = MESSAGES[type_]
            schema = spec.model.model_json_schema(ref_template="#/$defs/{model}")
            out += ["", f"### {type_}", "", spec.description, "", *_fields(schema, schema.get("$defs", {}))]
            for name, sub in sorted(schema.get("$defs", {}).items()):
                if sub.get("properties"):
                    out += ["", f"`{name}`:", "", *_fields(sub, {})]
    return "\n".join(out) + "\n"


def render() -> dict[str, str]:
    """Every generated file, by path relative to the output folder."""
    files = {"schemas/cloudevent.json": _dump(envelope_schema()), "asyncapi.json": _dump(asyncapi()),
             "contract.md": markdown()}
    for type_ in sorted(MESSAGES):
        files[f"schemas/{type_}.json"] = _dump(type_schema(type_))
    return files


def stale_files(out: Path) -> list[str]:
    wanted = render()
    stale = [p for p, text in wanted.items() if not (out / p).exists() or (out / p).read_text() != text]
    extra = [
        str(p.relative_to(out)) for p in out.rglob("*.json") if str(p.relative_to(out)) not in wanted
    ] if out.exists() else []
    return sorted(stale + extra)


def write(out: Path) -> None:
    if (out / "schemas").exists():
        for old in (out / "schemas").glob("*.json"):
            old.unlink()
    for path, text in render().items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when checked-in files are stale")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    breaks = compat.unaccepted()
    for b in breaks:
        print(f"breaking change on {b['topic']}: {b['type']} {b['field']} {b['change']}".replace("  ", " "))
    if breaks:
        print("move the topic to a new version, or list the change with its reason in "
              f"{compat.HISTORY / 'accepted.json'}")
    if args.check:
        stale = stale_files(args.out) + [f"history/{n}" for n, text in compat.history_files().items()
                                         if not (compat.HISTORY / n).exists() or (compat.HISTORY / n).read_text() != text]
        if stale:
            print("stale generated contract files (run `make contracts`):", *stale, sep="\n  ")
        if stale or breaks:
            return 1
        print(f"generated contract files are up to date ({len(render())} files); no breaking change")
        return 0
    write(args.out)
    print(f"wrote {len(render())} files to {args.out}")
    if breaks:
        return 1  # the history keeps the released shape until the break is accepted
    compat.write_history()
    print(f"recorded the released shapes in {compat.HISTORY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
