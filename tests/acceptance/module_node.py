"""Fixtures for acceptance modules that share one running node across their tests: a database
of the module's own, a Telegram emulator with Telegram's limits, and ``running_node``, which
starts the node and, at the end, stops it and checks its log has no traceback.

A module imports the fixtures it shares (``from tests.acceptance.module_node import database,
telegram``) and builds its ``node`` fixture with ``running_node`` and its own settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.harness import TOKEN, NodeProcess
from tests.conftest import Postgres


@pytest.fixture(scope="module")
def database(postgres: Postgres) -> Iterator[str]:
    name = postgres.create_database()
    try:
        yield postgres.conninfo(name)
    finally:
        postgres.drop_database(name)


@pytest.fixture(scope="module")
def telegram() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN, flood_limits=True) as emu:
        yield emu


@contextmanager
def running_node(database: str, kie: KieEmulator, telegram: TelegramEmulator, log_path: Path,
                 **env: str) -> Iterator[NodeProcess]:
    """The node, started; stopped at the end, its log free of tracebacks."""
    proc = NodeProcess(database, kie, telegram, log_path, **env).start()
    try:
        yield proc
    finally:
        _, log = proc.finish()
    assert "Traceback" not in log, log[-3000:]
