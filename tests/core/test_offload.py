"""The offload child (core/offload.py): heavy work runs in another process, its errors come back, a child that
died is replaced, and stopping does not wait for a long call."""

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from core.offload import NICE, Offload


@pytest.fixture
def offload():
    child = Offload("test-offload")
    yield child
    child.close()


def test_work_runs_in_a_child_process_that_is_kept_between_calls(offload):
    first = offload.call(os.getpid)
    assert first != os.getpid()
    assert offload.call(os.getpid) == first and offload.calls == 2


def test_the_work_s_own_error_is_raised_in_the_caller(offload):
    with pytest.raises(ValueError, match="invalid literal"):
        offload.call(int, "not a number")
    assert offload.call(int, "7") == 7  # the child is still there


def test_a_child_that_died_is_replaced_and_the_call_tried_again(offload):
    pid = offload.call(os.getpid)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the pool notices the death on its own thread
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    again = offload.call(os.getpid)
    assert again not in (pid, os.getpid()) and offload.restarts == 1


def test_closing_ends_a_long_call_at_once_instead_of_waiting_for_it(offload):
    offload.call(os.getpid)  # the child is up
    outcome: list[BaseException] = []

    def long_call() -> None:
        try:
            offload.call(time.sleep, 60)
        except BaseException as err:  # noqa: BLE001 - what the caller sees is the point
            outcome.append(err)

    caller = threading.Thread(target=long_call)
    caller.start()
    time.sleep(0.5)  # the call is under way (if not, it is refused below all the same)
    offload.close()
    caller.join(15)
    assert not caller.is_alive()
    assert outcome and isinstance(outcome[0], BrokenProcessPool | RuntimeError)
    with pytest.raises(RuntimeError, match="closed"):
        offload.call(os.getpid)


def test_the_child_yields_the_cores_to_its_parent(offload):
    assert offload.call(os.nice, 0) == os.nice(0) + NICE


def test_the_child_ends_when_its_parent_is_killed_outright(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", (
        "import os, sys, time\n"
        "from core.offload import Offload\n"
        "print(Offload('orphan-test').call(os.getpid), flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 15
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the offload child outlived its parent"
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    """Running (a zombie nobody has reaped yet counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
