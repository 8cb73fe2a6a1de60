"""Waiting in tests: poll a condition until a deadline; never sleep a fixed time to synchronise.

Shared by every tier (``tests/acceptance/harness.py``, ``tests/integration/kie_harness.py``,
``tests/integration/test_status.py``); a test that can wait on an event (a
``threading.Event``, the Telegram emulator's ``wait_until``) should do that instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")

_pause = threading.Event()  # never set: its wait() is the pause between two looks


def wait_until(predicate: Callable[[], T | None], timeout: float = 10.0,
               what: str = "condition", *, poll: float = 0.05) -> T:
    """Call ``predicate`` until it returns something truthy, and return that value.

    Fails the test (``AssertionError`` naming ``what``) when ``timeout`` seconds pass first.
    The predicate decides; the pause of ``poll`` seconds between looks only spares the CPU
    (and the database, when the predicate queries it).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        _pause.wait(poll)
