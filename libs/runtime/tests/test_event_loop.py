"""The service runs on the event loop its settings name."""

import asyncio

import pytest
import uvicorn
import uvloop

from crm_runtime.handlers import Handlers
from crm_runtime.service import Service
from crm_runtime.settings import ServiceSettings


@pytest.mark.parametrize(("setting", "expected"), [("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)])
def test_the_service_runs_on_the_loop_its_settings_name(monkeypatch, setting, expected):
    seen = []

    async def serve(self, sockets=None):
        seen.append(type(asyncio.get_running_loop()))

    monkeypatch.setattr(uvicorn.Server, "serve", serve)
    service = Service("looptest", Handlers(), [], migrations=None, settings=ServiceSettings(event_loop=setting))
    service.run()
    assert len(seen) == 1 and issubclass(seen[0], expected)
    if setting == "asyncio":
        assert not issubclass(seen[0], uvloop.Loop)
