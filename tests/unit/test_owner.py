"""A leftover's owner: a pid and its start time, so a reused pid is not taken for the owner."""

from __future__ import annotations

import os
import subprocess
import sys

from cloud.core.owner import process_alive, start_time


def test_this_process_is_alive_with_its_own_start_time() -> None:
    me = os.getpid()
    assert start_time(me).isdigit()
    assert process_alive(me) and process_alive(me, start_time(me))


def test_a_reused_pid_is_not_the_owner() -> None:
    me = os.getpid()
    assert not process_alive(me, str(int(start_time(me)) + 1))


def test_a_finished_process_is_not_alive() -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    pid = int(child.stdout)
    assert not process_alive(pid)
    assert start_time(pid) == ""
