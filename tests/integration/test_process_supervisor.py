"""ProcessSupervisor with real child processes (tiny Python commands): what an operator of a
multi-worker node sees when a worker dies, refuses its configuration, crash-loops or is
stopped."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervision import Backoff, ProcessSupervisor
from tests.support.waiting import wait_until

QUICK = Backoff(base=0.05, cap=0.05)

WAIT_FOR_SIGTERM = "import signal; signal.pause()"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def ready_then(ready: Path, code: str) -> list[str]:
    """A child that runs ``code`` (its signal set-up), then says it is ready, then waits."""
    return python(f"import pathlib, signal, sys\n{code}\n"
                  f"pathlib.Path({str(ready)!r}).touch()\nsignal.pause()\n")


def replaced(pids: dict[int, int], slot: int, old: int) -> dict[int, int] | None:
    """``pids`` once ``slot`` runs again under a pid other than ``old``."""
    return pids if pids.get(slot) not in (None, old) else None


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def supervisors() -> Iterator[list[ProcessSupervisor]]:
    """Every supervisor a test starts is stopped at its end, whatever happened."""
    made: list[ProcessSupervisor] = []
    yield made
    for sup in made:
        sup.stop(timeout=5)


@pytest.fixture(autouse=True)
def _logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trt.supervision")


def test_a_killed_child_is_restarted_with_a_new_pid(
        supervisors: list[ProcessSupervisor], caplog: pytest.LogCaptureFixture) -> None:
    sup = ProcessSupervisor(2, lambda slot: python(WAIT_FOR_SIGTERM), backoff=QUICK)
    supervisors.append(sup.start())
    before = sup.pids()
    assert sorted(before) == [0, 1]
    os.kill(before[1], signal.SIGKILL)
    after = wait_until(lambda: replaced(sup.pids(), 1, before[1]), 10,
                       "slot 1 to run again under a new pid")
    assert after[0] == before[0], "the other slot is left alone"
    assert not gone(after[1])
    assert sup.restarts() == {0: 0, 1: 1}
    assert sup.wait(0) is None, "a restart does not end the supervisor"
    assert f"workers: slot 1 (pid {before[1]}) exited with signal SIGKILL; restarting in " \
           in caplog.text
    assert f"workers: slot 1 started, pid {after[1]}" in caplog.text


def test_a_child_that_exits_by_itself_is_started_again(
        supervisors: list[ProcessSupervisor], caplog: pytest.LogCaptureFixture) -> None:
    sup = ProcessSupervisor(1, lambda slot: python("pass"), backoff=QUICK, intensity=100)
    supervisors.append(sup.start())
    wait_until(lambda: sup.restarts()[0] >= 2, 20, "two restarts of a child exiting with 0")
    assert "exited with exit code 0; restarting in" in caplog.text
    assert sup.stop(timeout=5) == 0


def test_an_exit_code_2_stops_the_others_and_ends_with_2(
        supervisors: list[ProcessSupervisor], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    ready = tmp_path / "ready"
    refusing = ready_then(ready, "signal.signal(signal.SIGUSR1, lambda *_: sys.exit(2))")
    ended: list[int] = []
    sup = ProcessSupervisor(3, lambda slot: refusing if slot == 1 else python(WAIT_FOR_SIGTERM),
                            backoff=QUICK, on_end=ended.append)
    supervisors.append(sup.start())
    pids = sup.pids()
    wait_until(ready.exists, 10, "slot 1 to be ready")
    os.kill(pids[1], signal.SIGUSR1)  # slot 1 now exits with 2: "my configuration is wrong"
    assert sup.wait(20) == 2
    assert ended == [2]
    assert all(gone(pid) for pid in pids.values()), "no worker outlives the refusal"
    assert sup.pids() == {} and sup.restarts() == {0: 0, 1: 0, 2: 0}
    assert f"slot 1 (pid {pids[1]}) exited with exit code 2: restarting cannot help" \
           in caplog.text
    assert sup.stop() == 2, "stopping afterwards keeps the code it ended with"


def test_a_crash_loop_gives_up_with_70(
        supervisors: list[ProcessSupervisor], caplog: pytest.LogCaptureFixture) -> None:
    ended: list[int] = []
    sup = ProcessSupervisor(1, lambda slot: python("raise SystemExit(1)"), intensity=3,
                            period=60.0, backoff=QUICK, on_end=ended.append)
    supervisors.append(sup.start())
    assert sup.wait(30) == 70
    assert ended == [70]
    assert sup.restarts() == {0: 3}, "three restarts allowed, the fourth exit gives up"
    assert "attempt 3" in caplog.text
    assert "exited with exit code 1: more than 3 restarts in 60s; giving up" in caplog.text


def test_stop_terminates_every_child_and_kills_one_ignoring_sigterm(
        supervisors: list[ProcessSupervisor], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    ready = tmp_path / "ready"
    stubborn = ready_then(ready, "signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    ended: list[int] = []
    sup = ProcessSupervisor(3, lambda slot: stubborn if slot == 2 else python(WAIT_FOR_SIGTERM),
                            backoff=QUICK, stop_timeout=1.0, on_end=ended.append)
    supervisors.append(sup.start())
    pids = sup.pids()
    wait_until(ready.exists, 10, "slot 2 to ignore SIGTERM")
    assert sup.stop() == 0
    assert all(gone(pid) for pid in pids.values())
    assert sup.pids() == {} and sup.restarts() == {0: 0, 1: 0, 2: 0}, "nothing restarted"
    assert ended == [], "on_end reports only an end of its own"
    assert f"slot 2 (pid {pids[2]}) did not stop within 1s; killing it" in caplog.text


def test_a_command_that_cannot_start_counts_as_a_crash(
        supervisors: list[ProcessSupervisor], tmp_path: Path) -> None:
    sup = ProcessSupervisor(1, lambda slot: [str(tmp_path / "no-such-program")], intensity=2,
                            backoff=QUICK)
    supervisors.append(sup.start())
    assert sup.wait(30) == 70
