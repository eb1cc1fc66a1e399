"""Every value a sender fills has a bound, and the published JSON Schema says it: strings have a
maximum length (or a pattern or a format that bounds them), lists a maximum count, maps a maximum
number of keys. Free-form objects (a rule set, an import row) are each checked by a bounded model
where they are read, and named here."""

from __future__ import annotations

from typing import Any

import pytest

from crm_contracts import registry
from crm_contracts.registry import Direction

# Objects whose shape is checked by the receiving service against a bounded model of its own.
FREE_FORM = {"routing.rules.set.rules[]": "crm_routing.domain.rules.Rule",
             "identity.member.import.rows[]": "crm_contracts.identity.commands.MemberRow"}

INPUTS = sorted(t for t, spec in registry.MESSAGES.items() if spec.topic.direction is Direction.COMMANDS)


def unbounded(schema: dict[str, Any], path: str, defs: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        return unbounded(defs[schema["$ref"].split("/")[-1]], path, defs)
    found = [p for option in schema.get("anyOf", []) for p in unbounded(option, path, defs)]
    kind = schema.get("type")
    if kind == "string" and not {"maxLength", "enum", "const", "format", "pattern"} & set(schema):
        found.append(path)
    elif kind == "array":
        found += [] if "maxItems" in schema else [path]
        found += unbounded(schema.get("items", {}), path + "[]", defs)
    elif kind == "object":
        for name, prop in schema.get("properties", {}).items():
            found += unbounded(prop, f"{path}.{name}", defs)
        keyed = [schema["additionalProperties"]] if isinstance(schema.get("additionalProperties"), dict) else []
        keyed += schema.get("patternProperties", {}).values()
        for values in keyed:
            found += [] if "maxProperties" in schema else [path]
            found += unbounded(values, path + "{}", defs)
        if not keyed and not schema.get("properties") and path not in FREE_FORM:
            found.append(path + " (free-form)")
    return found


def test_there_are_inputs_to_check():
    assert len(INPUTS) > 40


@pytest.mark.parametrize("type_", INPUTS)
def test_every_string_list_and_map_a_sender_fills_is_bounded_in_the_schema(type_):
    schema = registry.MESSAGES[type_].model.model_json_schema()
    assert unbounded(schema, type_, schema.get("$defs", {})) == []


def test_a_template_body_is_bounded_at_64_kb_and_hours_at_one_strict_format():
    from crm_contracts.notifications import SetTemplate
    from crm_contracts.routing import SetBusinessHours

    assert SetTemplate.model_json_schema()["properties"]["body"]["maxLength"] == 65_536
    with pytest.raises(ValueError, match="String should match pattern"):
        SetBusinessHours(instance_id="i", time_zone="UTC", week={"mon": [["09:00:10", "17:00"]]})
