"""The bench pins a replica's every thread to a core of its own."""

import os
import subprocess
import sys

import pytest

from crm_devstack.bench.plan import _pin


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_every_thread_of_a_process_is_pinned_and_released():
    # A process with a second thread, as a service's (the default executor) may have.
    proc = subprocess.Popen([sys.executable, "-c", "import threading, time; "
                             "threading.Thread(target=time.sleep, args=(30,)).start(); time.sleep(30)"])
    try:
        while len(os.listdir(f"/proc/{proc.pid}/task")) < 2:
            pass
        assert _pin(proc.pid, "1")
        for tid in os.listdir(f"/proc/{proc.pid}/task"):
            assert os.sched_getaffinity(int(tid)) == {1}
        assert _pin(proc.pid, f"0-{os.cpu_count() - 1}")
        assert os.sched_getaffinity(proc.pid) == set(range(os.cpu_count()))
    finally:
        proc.kill()
        proc.wait()


def test_no_process_is_no_pin():
    assert not _pin(None, "0")
