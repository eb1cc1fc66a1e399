"""Running `crm` as a person runs it: a process, its output and exit code."""

from __future__ import annotations

import asyncio
import os
import sys


async def crm(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Its output goes to a pipe, as when a script reads it."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "crm_cli.main", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=env if env is not None else dict(os.environ))
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
