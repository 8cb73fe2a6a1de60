"""The acceptance tests' fixtures: emulated KIE and Telegram, the node that talks to them, and
the browser (an installed Chrome/Chromium or Selenium Manager's: ``tests/support/browser.py``).

Each test gets its own emulators and a node process that is not started yet (the test starts
it, and may kill -9 and start it again). At the end the node is stopped with SIGTERM: it must
exit cleanly (or have been killed), and its log must hold neither the bot token nor the KIE
key. A module that needs something else defines its own fixture of the same name
(``test_telegram_flows`` shares one running node per module).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.harness import KIE_KEY, TOKEN, NodeProcess
from tests.support.browser import BrowserUnavailable, Chrome, find_chrome


@pytest.fixture(scope="session")
def chrome() -> Chrome:
    """Chrome or Chromium and its chromedriver (see tests/support/browser.py); none: fail."""
    try:
        return find_chrome(driver=True)
    except BrowserUnavailable as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def chrome_binary() -> str:
    """Chrome or Chromium to run headless by itself (no driver needed); none: fail."""
    try:
        return find_chrome(driver=False).binary
    except BrowserUnavailable as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, duration_s=0.5) as emu:
        yield emu


@pytest.fixture
def telegram() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN, flood_limits=True) as emu:
        yield emu


@pytest.fixture
def node(database: str, kie: KieEmulator, telegram: TelegramEmulator,
         tmp_path: Path) -> Iterator[NodeProcess]:
    proc = NodeProcess(database, kie, telegram, tmp_path / "node.log")
    try:
        yield proc
    finally:
        code, log = proc.finish()
        assert code in (0, -9), f"the node exited with {code}: {log[-2000:]}"
