"""The compatibility gate: a released topic version keeps its promises.

`history/<topic>.json` holds, for every type of every topic, the shape of its `data` as last
released (the checked-in contract on main). A change to a model is compared with it:

- a field removed (or renamed: one removed, one added) — readers and old records disagree;
- a type narrowed: a JSON type no longer allowed, an enum value dropped, a bound tightened, a
  pattern changed — records valid before are refused now;
- an optional field made required, or a new required field — old records lack it (on an event
  topic, kept and replayed; on a command topic, senders not yet changed are refused);
- a type removed from its topic.

Each is a break unless the topic's version moves (a new `.v2` topic starts a new history) or the
break is listed in `history/accepted.json` with its reason. Nested objects and array items are
compared by their JSON type only.

    crm-contracts-generate --check   # fails on a stale copy or an unaccepted break
    crm-contracts-generate           # writes the copies, and the history once nothing breaks
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import MESSAGES

HISTORY = Path(__file__).resolve().parents[2] / "history"
BOUNDS_UP = ("minLength", "minimum", "exclusiveMinimum", "minItems")  # raising one narrows
BOUNDS_DOWN = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")  # lowering one narrows


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        return _resolve(defs[prop["$ref"].rsplit("/", 1)[1]], defs)
    if "allOf" in prop and len(prop["allOf"]) == 1:
        return _resolve(prop["allOf"][0], defs)
    return prop


def _shape(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """What a field accepts: its JSON types, enum, bounds and pattern (alternatives merged)."""
    prop = _resolve(prop, defs)
    options = [_resolve(p, defs) for p in prop.get("anyOf", [prop])]
    types, enum, shape = set(), set(), {}
    for o in options:
        t = o.get("type", "any")
        types.update(t if isinstance(t, list) else [t])
        if "const" in o:
            enum.add(json.dumps(o["const"]))
        enum.update(json.dumps(v) for v in o.get("enum", []))
        for key in (*BOUNDS_UP, *BOUNDS_DOWN, "pattern"):
            if key in o:
                shape[key] = o[key]
    shape["types"] = sorted(types)
    if enum:
        shape["enum"] = sorted(enum)
    return shape


def shape_of(model: type[BaseModel]) -> dict[str, Any]:
    """{"fields": {name: what it accepts}, "required": [...]} of a message's data model."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    return {"fields": {name: _shape(p, defs) for name, p in sorted(schema.get("properties", {}).items())},
            "required": sorted(schema.get("required", []))}


def current() -> dict[str, dict[str, Any]]:
    """Topic -> type -> shape, from the models."""
    out: dict[str, dict[str, Any]] = {}
    for type_, spec in sorted(MESSAGES.items()):
        out.setdefault(spec.topic.name, {})[type_] = shape_of(spec.model)
    return out


def _narrowed(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    if "any" not in new["types"] and not set(old["types"]) <= set(new["types"]):
        return f"types {old['types']} -> {new['types']}"
    if "enum" in new and not set(old.get("enum", ["*"])) <= set(new["enum"]):
        return f"enum {old.get('enum', 'any value')} -> {new['enum']}"
    for key in BOUNDS_UP:
        if key in new and (key not in old or new[key] > old[key]):
            return f"{key} {old.get(key)} -> {new[key]}"
    for key in BOUNDS_DOWN:
        if key in new and (key not in old or new[key] < old[key]):
            return f"{key} {old.get(key)} -> {new[key]}"
    if "pattern" in new and new.get("pattern") != old.get("pattern"):
        return f"pattern {old.get('pattern')!r} -> {new['pattern']!r}"
    return None


def breaks(released: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Every break of `now` against `released`, as {topic, type, field, change}."""
    found = []
    for topic, types in sorted(released.items()):
        if topic not in now:
            continue  # the topic itself is gone (a new version replaced it): its history ends
        for type_, old in sorted(types.items()):
            new = now[topic].get(type_)
            if new is None:
                found.append({"topic": topic, "type": type_, "field": "", "change": "type removed"})
                continue
            for name, shape in sorted(old["fields"].items()):
                if name not in new["fields"]:
                    found.append({"topic": topic, "type": type_, "field": name, "change": "field removed"})
                elif (why := _narrowed(shape, new["fields"][name])) is not None:
                    found.append({"topic": topic, "type": type_, "field": name, "change": f"narrowed: {why}"})
            for name in sorted(set(new["required"]) - set(old["required"])):
                change = "optional field made required" if name in old["fields"] else "new required field"
                found.append({"topic": topic, "type": type_, "field": name, "change": change})
    return found


def released(folder: Path = HISTORY) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.v[0-9]*.json"))}


def accepted(folder: Path = HISTORY) -> list[dict[str, str]]:
    path = folder / "accepted.json"
    return json.loads(path.read_text()) if path.exists() else []


def unaccepted(folder: Path = HISTORY) -> list[dict[str, str]]:
    """Breaks of the models against the history that `accepted.json` does not list."""
    ok = {(a["topic"], a["type"], a["field"], a["change"]) for a in accepted(folder)}
    return [b for b in breaks(released(folder), current())
            if (b["topic"], b["type"], b["field"], b["change"]) not in ok]


def history_files() -> dict[str, str]:
    """What `history/` holds once the models are released: one file per topic."""
    return {f"{topic}.json": json.dumps(types, indent=2, sort_keys=True) + "\n" for topic, types in current().items()}


def write_history(folder: Path = HISTORY) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in history_files().items():
        (folder / name).write_text(text)
