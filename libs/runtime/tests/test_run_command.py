"""Commands given over HTTP answer as the handler did: nothing when it took effect, the refusal
with its reason and mapped status, 503 with Retry-After when it could not be handled now — each
raised as the one `Answer` the HTTP side turns into a response."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from crm_runtime.http import Answer, run_command


class Processor:
    def __init__(self, outcome=None, fails: BaseException | None = None) -> None:
        self.outcome, self.fails = outcome, fails

    async def handle_message(self, message):
        if self.fails is not None:
            raise self.fails
        return self.outcome


MESSAGE = SimpleNamespace(type="x.y.z")
REQUEST = SimpleNamespace(state=SimpleNamespace(), method="POST", url=SimpleNamespace(path="/x"))


async def test_a_command_that_took_effect_answers_nothing():
    assert await run_command(Processor(SimpleNamespace(name="handled")), MESSAGE) is None


async def test_a_refusal_answers_its_reason_with_the_mapped_status_or_409():
    refused = Processor(SimpleNamespace(name="rejected", reason="unknown_lead", detail="no lead l1"))
    with pytest.raises(Answer) as mapped:
        await run_command(refused, MESSAGE, {"unknown_lead": 404})
    response = mapped.value.response(REQUEST)
    assert response.status_code == 404 and json.loads(response.body) == {"error": "unknown_lead",
                                                                          "message": "no lead l1"}
    with pytest.raises(Answer) as plain:
        await run_command(refused, MESSAGE)
    assert plain.value.response(REQUEST).status_code == 409


async def test_a_command_that_could_not_be_handled_asks_to_try_again():
    with pytest.raises(Answer) as answer:
        await run_command(Processor(fails=ConnectionError("database away")), MESSAGE)
    response = answer.value.response(REQUEST)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("bug", [KeyError("user_id"), RuntimeError("x.y.z failed: dead-lettered")])
async def test_a_handlers_fault_is_a_server_error_not_an_invitation_to_try_again(bug):
    """Trying again would fail again: 500, and no Retry-After."""
    with pytest.raises(Answer) as answer:
        await run_command(Processor(fails=bug), MESSAGE)
    response = answer.value.response(REQUEST)
    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert json.loads(response.body)["error"] == "internal_error"
