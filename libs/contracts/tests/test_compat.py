"""The compatibility gate catches what breaks a released topic version and lets compatible growth
through; the one break the project made (identity.invitation.issued lost `accept_url`) is caught
and is on record as accepted, with its reason."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from crm_contracts import compat
from crm_contracts.identity import InvitationKind

TOPIC = "things.events.v1"


class Released(BaseModel):
    a: str
    b: int | None = None
    kind: Literal["x", "y"]
    c: str = Field(max_length=10)


def _breaks(model: type[BaseModel]) -> list[tuple[str, str]]:
    found = compat.breaks({TOPIC: {"thing.done": compat.shape_of(Released)}},
                          {TOPIC: {"thing.done": compat.shape_of(model)}})
    return [(b["field"], b["change"].split(":")[0]) for b in found]


def test_growth_that_old_records_and_readers_survive_is_not_a_break() -> None:
    class Grown(BaseModel):
        a: str
        b: int | str | None = None  # widened
        kind: Literal["x", "y", "z"]  # a value added
        c: str = Field(max_length=20)  # a bound loosened
        e: str | None = None  # an optional field added

    assert _breaks(Grown) == []


def test_each_kind_of_break_is_named() -> None:
    class Removed(BaseModel):  # `a` gone (or renamed to `a2`)
        a2: str
        b: int | None = None
        kind: Literal["x", "y"]
        c: str = Field(max_length=10)

    class Narrowed(BaseModel):
        a: str
        b: int | None = None
        kind: Literal["x"]
        c: str = Field(max_length=5)

    class Required(BaseModel):
        a: str
        b: int
        kind: Literal["x", "y"]
        c: str = Field(max_length=10)
        d: str

    assert _breaks(Removed) == [("a", "field removed"), ("a2", "new required field")]
    assert _breaks(Narrowed) == [("c", "narrowed"), ("kind", "narrowed")]
    # `b` no longer takes null, and must be there.
    assert _breaks(Required) == [("b", "narrowed"), ("b", "optional field made required"), ("d", "new required field")]
    gone = compat.breaks({TOPIC: {"thing.done": compat.shape_of(Released)}}, {TOPIC: {}})
    assert [b["change"] for b in gone] == ["type removed"]
    # A new topic version starts a new history: nothing on v1 is compared with it.
    assert compat.breaks({TOPIC: {"thing.done": compat.shape_of(Released)}},
                         {"things.events.v2": {"thing.done": compat.shape_of(Required)}}) == []


def test_the_invitation_token_change_is_caught_and_on_record_as_accepted() -> None:
    class IssuedBeforeSealing(BaseModel):  # identity.invitation.issued as first released
        user_id: str
        invitation_id: str
        kind: InvitationKind
        accept_url: str
        expires_at: datetime
        email: str
        first_name: str | None = None
        account_name: str | None = None
        instance_id: str | None = None
        role: str | None = None

    found = compat.breaks({"identity.events.v1": {"identity.invitation.issued": compat.shape_of(IssuedBeforeSealing)}},
                          compat.current())
    caught = {(b["field"], b["change"]) for b in found}
    assert caught == {("accept_url", "field removed"), ("accept_page_url", "new required field"),
                      ("sealed_token", "new required field")}
    on_record = {(a["field"], a["change"]): a["reason"] for a in compat.accepted()
                 if a["type"] == "identity.invitation.issued"}
    assert set(on_record) == caught and all(len(r) > 40 for r in on_record.values())


def test_the_models_break_nothing_released_unless_accepted() -> None:
    assert compat.unaccepted() == []
