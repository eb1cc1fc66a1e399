"""`GET /debug/memory`: operators only; names the lines whose allocations grew since the previous
call, so growth that stays is found where it is made."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from crm_cli import tokens
from crm_runtime import memory
from crm_runtime.auth import Verifier

KEPT: list[bytes] = []


def grow() -> None:
    KEPT.extend(b"x" * 1000 + bytes([i % 256]) for i in range(3000))  # about 3 MB that stays


@pytest.fixture
def client(tmp_path):
    jwks = tokens.ensure_dev_keys(tmp_path / "idp")
    app = Starlette(routes=memory.routes())
    app.state.verifier = Verifier(jwks_file=str(jwks), issuer=tokens.DEV_ISSUER, audience=tokens.DEV_AUDIENCE)
    private = tmp_path / "idp" / tokens.PRIVATE_FILE
    with TestClient(app) as c:
        c.operator = {"Authorization": f"Bearer {tokens.mint(private, 'ops', operator=True)}"}
        c.user = {"Authorization": f"Bearer {tokens.mint(private, 'u-1')}"}
        yield c
    tracemalloc.stop()
    KEPT.clear()


def test_the_profile_is_for_operators_and_says_when_it_is_off(client):
    assert client.get("/debug/memory").status_code == 401
    assert client.get("/debug/memory", headers=client.user).status_code == 403
    assert client.get("/debug/memory", headers=client.operator).json()["error"] == "not_tracing"


def test_growth_between_two_calls_is_named_by_the_line_that_made_it(client):
    memory.start()
    first = client.get("/debug/memory", headers=client.operator).json()
    assert first["since"] == "start"
    grow()
    second = client.get("/debug/memory?top=5", headers=client.operator).json()
    assert second["since"] == "previous call"
    biggest = second["top"][0]
    assert biggest["kib"] > 2500 and any("grow" in line or "KEPT.extend" in line for line in biggest["where"]), biggest


# In a fresh interpreter: a 4 MB block is mmapped and freed (glibc then raises its threshold to
# 4 MB), then a 256 KB block is taken. Prints how many mmapped blocks glibc holds with it.
_AFTER_A_LARGE_FREE = """
import ctypes, sys
from crm_runtime import memory
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = Info
if sys.argv[1] == "fixed":
    assert memory.fix_mmap_threshold(128 * 1024)
libc.free(libc.malloc(4 << 20))
held = libc.mallinfo2().hblks
block = libc.malloc(256 << 10)
print(libc.mallinfo2().hblks - held)
"""


@pytest.mark.parametrize(("mode", "mmapped"), [("sliding", 0), ("fixed", 1)])
def test_a_fixed_mmap_threshold_keeps_large_blocks_off_the_heap(mode, mmapped):
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    out = subprocess.run([sys.executable, "-c", _AFTER_A_LARGE_FREE, mode], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert int(out) == mmapped


def test_the_operators_threshold_stands(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert memory.fix_mmap_threshold(128 * 1024) is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    assert memory.fix_mmap_threshold(0) is False
