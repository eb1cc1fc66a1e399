"""Rule sets (R1, R4): ordered rules, first match wins, each a chain of steps ending in the pond."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Condition:
    """One `when` field: what it reads of the lead, whether it holds for what the rule wants, and
    the sentence the lead's history shows."""

    field: str
    seen: Callable[[str, dict[str, Any]], Any]  # (channel, lead) → the value looked at
    holds: Callable[[Any, Any], bool]  # (seen, wanted)
    why: Callable[[Any, Any, bool], str]  # (seen, wanted, held)


def _among(label: str, show: Callable[[Any], str] = repr) -> Callable[[Any, Any, bool], str]:
    return lambda seen, wanted, ok: f"{label} {show(seen)} {'in' if ok else 'not in'} {wanted}"


def _zip(lead: dict[str, Any]) -> str:
    return (lead.get("zip") or "").strip()


def _tags(lead: dict[str, Any]) -> set[str]:
    return {t.lower() for t in lead.get("tags") or []}


def _lowered(tags: list[str]) -> set[str]:
    return {t.lower() for t in tags}


_CONDITIONS = (
    _Condition("channel", lambda channel, _: channel, lambda seen, wanted: seen in wanted, _among("channel", str)),
    _Condition("source", lambda _, lead: lead.get("source"), lambda seen, wanted: seen in wanted, _among("source")),
    _Condition("zip", lambda _, lead: _zip(lead), lambda seen, wanted: seen in wanted, _among("zip")),
    _Condition("zip_prefix", lambda _, lead: _zip(lead),
               lambda seen, wanted: bool(seen) and any(seen.startswith(p) for p in wanted),
               lambda seen, wanted, ok: f"zip {seen!r} {'starts' if ok else 'does not start'} with one of {wanted}"),
    _Condition("price_min", lambda _, lead: lead.get("price"), lambda seen, wanted: seen is not None and seen >= wanted,
               lambda seen, wanted, ok: f"price {seen} {'≥' if ok else 'not ≥'} {wanted}"),
    _Condition("price_max", lambda _, lead: lead.get("price"), lambda seen, wanted: seen is not None and seen <= wanted,
               lambda seen, wanted, ok: f"price {seen} {'≤' if ok else 'not ≤'} {wanted}"),
    _Condition("tags_any", lambda _, lead: _tags(lead), lambda seen, wanted: bool(seen & _lowered(wanted)),
               lambda seen, wanted, ok: f"tags {sorted(seen)} {'share' if ok else 'share none'} with {wanted}"),
    _Condition("tags_all", lambda _, lead: _tags(lead), lambda seen, wanted: _lowered(wanted) <= seen,
               lambda seen, wanted, ok: f"tags {sorted(seen)} {'include' if ok else 'lack some of'} {wanted}"),
    _Condition("lead_type", lambda _, lead: lead.get("lead_type"), lambda seen, wanted: seen in wanted,
               _among("lead type")),
)


def _checks(when: When, channel: str, lead: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(condition, passed, why) for each condition the rule sets, in the table's order."""
    out = []
    for condition in _CONDITIONS:
        wanted = getattr(when, condition.field)
        if wanted is None:
            continue
        seen = condition.seen(channel, lead)
        ok = condition.holds(seen, wanted)
        out.append((condition.field, ok, condition.why(seen, wanted, ok)))
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
