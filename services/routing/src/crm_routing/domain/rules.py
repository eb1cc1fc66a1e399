"""Rule sets (R1, R4): ordered rules, first match wins, each a chain of steps ending in the pond."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crm_contracts.common import Label, Ref, Refused
from crm_contracts.organisation import MAX_PRICE


MAX_CLAIM_S = 30 * 24 * 3600
# A new version is after the current one and at most this far ahead: versions are 32-bit, and a
# set that jumped to the top of the range could never be followed by another (or be rolled back).
MAX_VERSION_STEP = 1000
# A condition lists at most 1,000 values (zip codes are the long lists), each a label.
Values = Annotated[list[Label], Field(max_length=1000)] | None


class Strategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"
    FIRST_TO_CLAIM = "first_to_claim"
    SPECIFIC_AGENT = "specific_agent"
    POND = "pond"


class RulesError(Refused):
    """A rule set that cannot be used; the message starts with the path of the first error."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(_Strict):
    channel: Values = None
    source: Values = None
    zip: Values = None
    zip_prefix: Values = None
    price_min: int | None = Field(default=None, ge=0, le=MAX_PRICE)
    price_max: int | None = Field(default=None, ge=0, le=MAX_PRICE)
    tags_any: Values = None
    tags_all: Values = None
    lead_type: Values = None

    @model_validator(mode="after")
    def _range(self) -> When:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("price_min is above price_max")
        return self

    @property
    def empty(self) -> bool:
        return all(v is None for v in self.model_dump().values())


class Step(_Strict):
    strategy: Strategy
    agents: list[Ref] | None = Field(default=None, max_length=1000)  # None: every eligible member
    weights: dict[Ref, Annotated[int, Field(le=1_000_000)]] | None = Field(default=None, max_length=1000)
    agent: Ref | None = None
    claim_within_s: float | None = Field(default=None, gt=0, le=MAX_CLAIM_S)
    # The claim timer counts only the instance's business hours (routing.business_hours.set).
    business_hours: bool | None = None

    @model_validator(mode="after")
    def _complete(self) -> Step:
        if self.strategy is Strategy.WEIGHTED and (not self.weights or any(w <= 0 for w in self.weights.values())):
                raise ValueError("weighted needs weights: {user_id: positive integer}")
        if self.strategy is Strategy.SPECIFIC_AGENT and not self.agent:
            raise ValueError("specific_agent needs agent")
        if self.strategy is Strategy.POND and self.claim_within_s is not None:
            raise ValueError("the pond has no claim timer")
        return self


class Rule(_Strict):
    id: str = Field(min_length=1, max_length=100)
    when: When = When()
    steps: list[Step] = Field(min_length=1, max_length=20)


DEFAULT_RULE = Rule(id="default", steps=[Step(strategy=Strategy.ROUND_ROBIN)])


class RuleSet(_Strict):
    version: int
    rules: list[Rule]

    def as_json(self) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json", exclude_none=True, exclude_defaults=False) for r in self.rules]


def parse(raw: list[dict[str, Any]], version: int) -> RuleSet:
    """The rule set, with the default rule added when none matches everything; RulesError with
    the first error's path (e.g. `rules[1].steps[0].weights`) otherwise."""
    try:
        rules = list(_indexed(raw))
    except _AtIndex as bad:
        error = bad.error.errors()[0]
        path = ".".join(str(p) for p in (f"rules[{bad.index}]", *error["loc"]))
        raise RulesError("invalid_rules", f"{path}: {error['msg']}") from None
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise RulesError("invalid_rules", f"rules[{ids.index(dup, ids.index(dup) + 1)}].id: {dup!r} is used twice")
    if not any(r.when.empty for r in rules):
        rules.append(DEFAULT_RULE if "default" not in ids else DEFAULT_RULE.model_copy(update={"id": "default_"}))
    return RuleSet(version=version, rules=rules)


class _AtIndex(Exception):
    def __init__(self, index: int, error: ValidationError) -> None:
        self.index, self.error = index, error


def _indexed(raw: list[dict[str, Any]]):
    for i, r in enumerate(raw):
        try:
            yield Rule.model_validate(r)
        except ValidationError as err:
            raise _AtIndex(i, err) from None


def _checks(when: When, channel: str, lead: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(condition, passed, why) for each condition the rule sets."""
    out = []
    tags = {t.lower() for t in lead.get("tags") or []}
    zip_ = (lead.get("zip") or "").strip()
    price = lead.get("price")
    if when.channel is not None:
        out.append(("channel", channel in when.channel, f"channel {channel} {'in' if channel in when.channel else 'not in'} {when.channel}"))
    if when.source is not None:
        src = lead.get("source")
        out.append(("source", src in when.source, f"source {src!r} {'in' if src in when.source else 'not in'} {when.source}"))
    if when.zip is not None:
        out.append(("zip", zip_ in when.zip, f"zip {zip_!r} {'in' if zip_ in when.zip else 'not in'} {when.zip}"))
    if when.zip_prefix is not None:
        ok = bool(zip_) and any(zip_.startswith(p) for p in when.zip_prefix)
        out.append(("zip_prefix", ok, f"zip {zip_!r} {'starts' if ok else 'does not start'} with one of {when.zip_prefix}"))
    if when.price_min is not None:
        ok = price is not None and price >= when.price_min
        out.append(("price_min", ok, f"price {price} {'≥' if ok else 'not ≥'} {when.price_min}"))
    if when.price_max is not None:
        ok = price is not None and price <= when.price_max
        out.append(("price_max", ok, f"price {price} {'≤' if ok else 'not ≤'} {when.price_max}"))
    if when.tags_any is not None:
        ok = bool(tags & {t.lower() for t in when.tags_any})
        out.append(("tags_any", ok, f"tags {sorted(tags)} {'share' if ok else 'share none'} with {when.tags_any}"))
    if when.tags_all is not None:
        ok = {t.lower() for t in when.tags_all} <= tags
        out.append(("tags_all", ok, f"tags {sorted(tags)} {'include' if ok else 'lack some of'} {when.tags_all}"))
    if when.lead_type is not None:
        lt = lead.get("lead_type")
        out.append(("lead_type", lt in when.lead_type, f"lead type {lt!r} {'in' if lt in when.lead_type else 'not in'} {when.lead_type}"))
    return out


def first_match(rules: RuleSet, channel: str, lead: dict[str, Any]) -> tuple[Rule, list[dict[str, Any]]]:
    """The first rule whose every condition holds, and the story of each rule tried."""
    tried = []
    for rule in rules.rules:
        checks = _checks(rule.when, channel, lead)
        matched = all(ok for _, ok, _ in checks)
        tried.append({"rule_id": rule.id, "matched": matched,
                      "why": [why for _, _, why in checks] or ["no conditions: the default rule"]})
        if matched:
            return rule, tried
    raise AssertionError("a rule set always ends with a default rule")  # parse() guarantees it


def check_next_version(asked: int, current: int | None) -> None:
    """A set's version grows, by at most MAX_VERSION_STEP."""
    if current is not None and asked <= current:
        raise Refused("stale_version", f"version {asked} is not after the current {current}")
    if asked > (current or 0) + MAX_VERSION_STEP:
        raise Refused("version_too_far", f"version {asked} is more than {MAX_VERSION_STEP} after the current "
                      f"{current or 0}; send {(current or 0) + 1}")
