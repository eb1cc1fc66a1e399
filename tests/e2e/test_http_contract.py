"""Every route of the four services' OpenAPI documents, fuzzed on the live stack by schemathesis:
valid and invalid inputs (its positive and negative modes), random ids and this account's real ones,
with a valid token (the account's owner; the instance's key on the Open API) and an invalid one.
No answer is a server error and none takes a second. The figures it prints go in docs/security.md."""

from __future__ import annotations

import contextlib

import asyncio
import statistics
import uuid
from collections import defaultdict

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from crm_devstack import openapi_doc
from routing_steps import issue_key
from routing_steps import capture, outcome, team

pytestmark = pytest.mark.stack

EXAMPLES = 6  # per route, mode, token and id set: 24 cases a route
SLOWEST_S = 1.0


@pytest.fixture(scope="module")
async def seeded(stack, bus):
    from conftest import Platform

    platform = Platform(stack, bus)
    if not stack.sees_client_address:  # every client reaches a container stack from one address
        SESSION.mount("http://", requests.adapters.HTTPAdapter())
    acc = "acc_http_" + uuid.uuid4().hex[:10]
    ins = (await team(platform, acc, "bob"))["instance_id"]
    key = (await issue_key(platform, ins, "ann")).json()
    lead, _ = await capture(platform, acc, channel="manual", instance_id=ins)
    await outcome(platform, lead)
    await stack.settled()
    real = {"account_id": acc, "instance_id": ins, "user_id": "ann", "lead_id": lead, "key_id": key["key_id"],
            "kind": "standard_invitation", "segment_id": "everything", "notification_id": "ntf_none",
            "item": "seat"}
    return platform, real, key["key"]


def _cases(operation, real: dict, *, mode: GenerationMode, with_real_ids: bool):
    names = (lambda params: [p.name for p in params]) if with_real_ids else (lambda params: [])
    fixed_path = {p: real[p] for p in names(operation.path_parameters) if p in real}
    fixed_query = {p: real[p] for p in names(operation.query) if p in real}
    return operation.as_strategy(generation_mode=mode, path_parameters=fixed_path or None,
                                 query=fixed_query or None)


class _FromAddress(requests.adapters.HTTPAdapter):
    """Requests from a loopback address of their own: the unknown keys sent here count against it,
    not against 127.0.0.1 that the other tests use (the Open API stops an address after 30)."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (FUZZ_ADDRESS, 0)
        super().init_poolmanager(*args, **kwargs)


FUZZ_ADDRESS = "127.0.0.5"
SESSION = requests.Session()
SESSION.mount("http://", _FromAddress())


def ask(operation, cases, headers: dict[str, str], seen: list[tuple[int, float]]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def one(case) -> None:
        response = case.call(session=SESSION, headers=headers, timeout=10)
        seen.append((response.status_code, response.elapsed))
        assert response.status_code < 500, (case.as_curl_command(headers=headers), response.status_code,
                                            response.text[:300])
        assert response.elapsed < SLOWEST_S, case.as_curl_command(headers=headers)

    with contextlib.suppress(Unsatisfiable):  # a route that takes nothing has no invalid input to make
        one()


def fuzz(base_url: str, document: dict, real: dict, tokens: dict[str, dict[str, str]], *,
         unknown_keys: bool = True) -> dict:
    """`unknown_keys=False` leaves out unknown API keys on the Open API: where every client reaches
    the services from one address (a container engine's forwarding), 30 of them in a minute would
    stop that address — every other test's calls included — for the rest of the minute."""
    schema = schemathesis.openapi.from_dict(document)
    schema.config.base_url = base_url
    answers: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for result in schema.get_all_operations():
        operation = result.ok()
        auth = "api_key" if operation.path.startswith("/v1/open/") else "bearer"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for with_real_ids in (False, True):
                for token in ("valid", "invalid"):
                    if auth == "api_key" and token == "invalid" and not unknown_keys:
                        continue
                    headers = tokens[token] if auth == "bearer" else tokens[f"key_{token}"]

                    ask(operation, _cases(operation, real, mode=mode, with_real_ids=with_real_ids), headers,
                        answers[operation.label])
    return answers


@pytest.mark.parametrize("service", openapi_doc.SERVICES)
async def test_no_route_answers_a_server_error_or_slowly(stack, seeded, service):
    platform, real, api_key = seeded
    tokens = {"valid": stack.auth.as_user("ann"), "invalid": {"Authorization": "Bearer not-a-token"},
              "key_valid": {"Authorization": f"Bearer {api_key}"}, "key_invalid": {"Authorization": "Bearer crmk_x"}}
    async with httpx.AsyncClient(timeout=5) as client:
        document = (await client.get(f"{stack.http(service)}/openapi.json")).json()
    answers = await asyncio.to_thread(fuzz, stack.http(service), document, real, tokens,
                                      unknown_keys=stack.sees_client_address)
    cases = {label: len(a) for label, a in answers.items()}
    times = [t for a in answers.values() for _, t in a]
    statuses = sorted({s for a in answers.values() for s, _ in a})
    print(f"\n{service}: {len(cases)} routes, {sum(cases.values())} cases ({min(cases.values())}–"
          f"{max(cases.values())} a route), statuses {statuses}, 0 server errors, median "
          f"{statistics.median(times) * 1000:.1f} ms, slowest {max(times) * 1000:.0f} ms "
          f"({max(answers, key=lambda k: max(t for _, t in answers[k]))})")
    assert len(cases) == sum(len(ops) for ops in document["paths"].values())
