"""``trt-node run --workers N`` on the command line: the flag is documented, a bad value and a
bad setting refuse in one line before any worker starts, and a worker whose parent is gone
ends by itself. (The running node of several workers: tests/acceptance/test_workers.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.test_cli import _env, _trt_node

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"TRT_TELEGRAM_TOKEN": "123456:ABCdefGHIjklMNOpqrsTUVwxyz0123456789",
            "TRT_KIE_API_KEY": "cli-workers-kie-key"}


def test_run_help_shows_the_workers_flag() -> None:
    done = _trt_node("run", "--help", env=_env())
    assert done.returncode == 0
    assert "--workers N" in done.stdout and "TRT_WORKERS" in done.stdout
    sandbox = _trt_node("sandbox", "--help", env=_env())
    assert "--workers N" in sandbox.stdout


def test_a_bad_worker_count_refuses_in_one_line() -> None:
    done = _trt_node("run", "--workers", "0", env=_env(**SETTINGS))
    assert done.returncode == 2
    assert done.stderr == "trt-node: TRT_WORKERS: Input should be greater than or equal to 1\n"
    too_many = _trt_node("run", env=_env(**SETTINGS, TRT_WORKERS="65"))
    assert too_many.returncode == 2
    assert too_many.stderr.startswith("trt-node: TRT_WORKERS: ")
    assert too_many.stderr.count("\n") == 1


def test_the_parent_checks_the_settings_before_starting_workers() -> None:
    done = _trt_node("run", "--workers", "2", env=_env(DATABASE_URL="x="))
    assert done.returncode == 2
    assert done.stderr == "trt-node: TRT_TELEGRAM_TOKEN: is required but not set\n"


def test_a_worker_whose_parent_is_already_gone_ends_by_itself() -> None:
    # The parent may die between the worker's fork and its watch starting: the watch compares
    # with the pid the parent wrote down, so it sees the parent is not there any more.
    not_my_parent = str(os.getpid() + 1_000_000)
    probe = (f"import run_node, signal\nrun_node.watch_parent({not_my_parent}, every=0.05)\n"
             "signal.pause()\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=20)
    assert done.returncode == 70
    assert f"the parent process (pid {not_my_parent}) is gone" in done.stderr
