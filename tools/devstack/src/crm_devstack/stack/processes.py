"""Start, find and stop the processes the stack owns, by the PID files it wrote."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed child stays a zombie until reaped; it is not running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return True


def read_pid(pid_file: Path) -> int | None:
    """The PID on a PID file's first line (PostgreSQL's `postmaster.pid` has more lines after it)."""
    try:
        return int(pid_file.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


def spawn(cmd: list[str], *, log_file: Path, pid_file: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> int:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    return proc.pid


def stop(pid_file: Path, *, timeout: float = 20.0, sig: int = signal.SIGTERM) -> bool:
    """Signal the process named by `pid_file`, wait for it, SIGKILL if it lingers."""
    return stop_together([pid_file], timeout=timeout, sig=sig)


def stop_together(pid_files: list[Path], *, timeout: float = 20.0, sig: int = signal.SIGTERM) -> bool:
    """Signal every process named, then wait for them all (SIGKILL for any still there at the
    deadline): nodes of a cluster stopped one by one would each wait for a quorum already gone.
    True when one was running."""
    pids = {}
    for pid_file in pid_files:
        pid = read_pid(pid_file)
        if alive(pid):
            assert pid is not None
            os.kill(pid, sig)
            pids[pid] = pid_file
        else:
            pid_file.unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        time.sleep(0.1)
    for pid, pid_file in pids.items():
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            while alive(pid):
                _reap(pid)
                time.sleep(0.05)
        _reap(pid)
        pid_file.unlink(missing_ok=True)
    return bool(pids)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
