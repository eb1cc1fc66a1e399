import json

import pytest
from pydantic import BaseModel, ValidationError

import crm_contracts as c
from crm_contracts.organisation import ActsOnLead
from crm_contracts import generate
from crm_contracts.identity import AddMember, CreateAccount

OWNER = {"user_id": "usr_1", "email": "owner@example.com", "first_name": "Ada", "last_name": "Lane"}


def minimal_value(model: type[BaseModel]) -> dict:
    """A payload built from the model's own JSON Schema, so every type gets a round trip."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})

    def sample(s: dict):
        if "$ref" in s:
            return sample(defs[s["$ref"].split("/")[-1]])
        if "anyOf" in s:
            return sample(next(x for x in s["anyOf"] if x.get("type") != "null"))
        if "enum" in s:
            return s["enum"][0]
        t = s.get("type")
        fmt = s.get("format")
        if t == "object" and "properties" in s:
            return {k: sample(v) for k, v in s["properties"].items() if k in s.get("required", [])}
        if t == "object":
            return {"x": sample(s.get("additionalProperties") or {"type": "string"})} if s.get("minProperties") else {}
        if t == "array":
            return [sample(s.get("items", {"type": "string"}))] * max(1, s.get("minItems", 0))
        if t == "integer":
            return max(1, s.get("minimum", 0))
        if t == "boolean":
            return True
        if fmt == "email":
            return "a@example.com"
        if fmt == "date":
            return "2026-11-01"
        if fmt == "date-time":
            return "2026-11-01T00:00:00Z"
        if "pattern" in s and "A-Z" in s["pattern"]:
            return "USD"
        if "pattern" in s:
            return "some_reason"
        return "x"

    return sample(schema)


@pytest.mark.parametrize("type_", sorted(c.MESSAGES))
def test_every_type_round_trips_through_the_envelope(type_):
    spec = c.MESSAGES[type_]
    value = minimal_value(spec.model)
    if type_ == "seats.subscription.set":
        value["period_end"] = "2026-11-30"
    if type_ == "routing.lead.tag":  # at least one tag to add or remove
        value["add"] = ["hot"]
    if type_ == "notifications.notification.read":  # these, or all of one instance
        value["notification_ids"] = ["ntf_1"]
    if issubclass(spec.model, ActsOnLead):  # a person or an API key acts
        value["by_user_id"] = "u_1"
    data = spec.model.model_validate(value)
    event = c.command(data, source="test", accountid="acc_1", instanceid="ins_1")
    decoded = c.CloudEvent.from_json(event.to_json())
    assert decoded == event
    assert decoded.parse_data() == data
    assert decoded.topic == spec.topic.name


def test_event_caused_by_copies_correlation_and_sets_causation():
    cmd = c.command(CreateAccount(account_id="acc_1", name="Lane Realty", tier="enterprise", owner=OWNER),
                    source="admin-console", accountid="acc_1")
    created = c.event_caused_by(cmd, c.identity.AccountCreated(
        account_id="acc_1", tier="enterprise", enterprise_instance_id="ins_1", owner_user_id="usr_1"),
        source="crm/identity")
    assert created.correlationid == cmd.id  # the command had none, so its id
    assert created.causationid == cmd.id
    follow = c.event_caused_by(created, c.seats.SeatDenied(user_id="u", reason="r"), source="crm/seats")
    assert follow.correlationid == cmd.id
    assert follow.causationid == created.id


def test_record_keys_follow_the_topic_rule():
    added = c.command(AddMember(user_id="u", email="u@example.com", first_name="A", last_name="B",
                                user_type="platform", activation="opt_in", role="agent"),
                      source="t", accountid="acc_9", instanceid="ins_3")
    assert added.key == "acc_9"
    assigned = c.command(c.routing.LeadAssigned(lead_id="l", instance_id="ins_3", user_id="u", rule_id="r",
                                                strategy="round_robin", explanation="why"),
                         source="t", accountid="acc_9", instanceid="ins_3")
    assert assigned.key == "ins_3"
    lead = c.command(c.leads.LeadCaptured(lead_id="l", channel="website", website_id="w", lead={}),
                     source="t", accountid="acc_9")
    assert lead.key == "acc_9"


def test_invalid_payload_is_refused_with_a_readable_error():
    with pytest.raises(ValidationError) as err:
        AddMember.model_validate({"user_id": "u", "email": "not-an-email", "first_name": "A",
                                  "last_name": "B", "user_type": "robot", "role": "agent"})
    text = str(err.value)
    assert "email" in text and "user_type" in text
    assert "'platform' or 'display_only'" in text


def test_envelope_without_accountid_or_specversion_is_refused():
    with pytest.raises(ValidationError, match="accountid"):
        c.CloudEvent.model_validate({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data": {}})
    with pytest.raises(ValidationError, match="specversion"):
        c.CloudEvent.model_validate({"specversion": "0.3", "id": "1", "source": "s", "type": "t",
                                     "accountid": "a", "data": {}})


def test_unknown_type_is_named_in_the_error():
    event = c.CloudEvent.model_validate({"specversion": "1.0", "id": "1", "source": "s",
                                         "type": "identity.account.explode", "accountid": "a", "data": {}})
    with pytest.raises(c.UnknownType, match="identity.account.explode"):
        event.parse_data()


def test_subscription_period_must_move_forward():
    with pytest.raises(ValidationError, match="period_end must be after period_start"):
        c.seats.SetSubscription(seats_total=1, seat_price_cents=1, currency="USD",
                                period_start="2026-11-30", period_end="2026-11-01")


def test_checked_in_schemas_and_asyncapi_are_up_to_date():
    assert generate.stale_files(generate.DEFAULT_OUT) == []


def test_asyncapi_names_every_topic_and_type():
    doc = generate.asyncapi()
    assert doc["asyncapi"].startswith("3.")
    addresses = {ch["address"] for ch in doc["channels"].values()}
    assert addresses == set(c.TOPICS)
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert names == set(c.MESSAGES)


def test_stale_check_notices_a_changed_file(tmp_path):
    generate.write(tmp_path)
    assert generate.stale_files(tmp_path) == []
    target = tmp_path / "schemas" / "identity.member.add.json"
    target.write_text(json.dumps({"changed": True}))
    assert generate.stale_files(tmp_path) == ["schemas/identity.member.add.json"]
