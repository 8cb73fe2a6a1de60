"""The dashboard at GET / of the real node process, rendered by headless Chrome/Chromium.

The browser (the ``chrome_binary`` fixture: an installed one, else Selenium Manager's) loads
the page, and the DOM it built must show the database's live counts — before and after a job
changes state.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.harness import KIE_KEY, TOKEN, NodeProcess
from tests.support import status_state
from trt_actors.domain import jobs
from trt_actors.domain.states import Cause, Failure, JobState
from trt_actors.infra.store import Store


class Facts(HTMLParser):
    """The text of every element carrying ``data-fact``."""

    def __init__(self) -> None:
        super().__init__()
        self.facts: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("meta", "link", "br", "img", "input"):
            return
        self._open.append(dict(attrs).get("data-fact"))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for fact in self._open:
            if fact is not None:
                self.facts[fact] = (self.facts.get(fact, "") + data).strip()


def chromium(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium'}", *args],
        capture_output=True, text=True, timeout=60, check=True)


def rendered(binary: str, tmp_path: Path, url: str) -> dict[str, str]:
    parser = Facts()
    parser.feed(chromium(binary, tmp_path, "--dump-dom", url).stdout)
    return parser.facts


@pytest.fixture
def node(database: str, store: Store, tmp_path: Path) -> Iterator[NodeProcess]:
    with KieEmulator(KIE_KEY, seed=9) as kie, TelegramEmulator(TOKEN, seed=9) as telegram:
        process = NodeProcess(database, kie, telegram, tmp_path / "node.log")
        try:
            yield process
        finally:
            process.stop()


def test_the_dashboard_renders_the_live_counts_in_chromium(
        node: NodeProcess, store: Store, chrome_binary: str, tmp_path: Path) -> None:
    known = status_state.seed(store)
    node.start()
    url = f"{node.status_url}/"

    facts = rendered(chrome_binary, tmp_path, url)
    assert facts["ready"] == "READY" and facts["database"] == "database up"
    for state, n in known.by_state.items():
        assert facts[f"jobs.{state}"] == str(n), state
    assert facts["jobs.total"] == "3" and facts["jobs.in_flight"] == "2"
    assert facts["orphans.parked"] == "1" and facts["depth.outbox"] == "0"
    for child in ("delivery", "callbacks", "poller", "janitor", "intake", "status"):
        assert facts[f"child.{child}"] == "running"

    # Live: a job fails while the page is open; the next load shows it.
    with store.transaction() as tx:
        job_id = tx.raw("SELECT id FROM jobs WHERE state = 'created' ORDER BY id LIMIT 1")[0]["id"]
        assert jobs.move(tx, job_id, JobState.FAILED, Cause.OPERATOR,
                         failure=Failure.CANCELLED) is not None
    facts = rendered(chrome_binary, tmp_path, url)
    assert facts["jobs.created"] == "1" and facts["jobs.failed"] == "2"

    shot = tmp_path / "dashboard.png"
    chromium(chrome_binary, tmp_path, f"--screenshot={shot}", "--window-size=1280,900",
             "--hide-scrollbars", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
