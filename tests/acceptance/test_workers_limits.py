"""Two worker processes on one bot token and one KIE key keep the node-wide limits together:
KIE's 20 createTask per 10 s and Telegram's 30 messages per second hold for the node as a
whole (each worker takes its share), so neither emulator, which enforces both, answers 429."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import query
from tests.acceptance.harness import media_messages, wait_until
from tests.acceptance.test_node import confirm_gen
from tests.acceptance.test_workers import Workers

pytestmark = pytest.mark.acceptance

USERS = range(7001, 7041)
"""40 users: 40 chats, in partitions of both workers; 40 createTask calls at once are twice
KIE's 20 per 10 s."""


def test_two_workers_stay_within_kies_and_telegrams_limits_together(
    database: str, kie: KieEmulator, telegram: TelegramEmulator, tmp_path: Path,
) -> None:
    kie.configure(duration_s=0.2)
    node = Workers(database, kie, telegram, tmp_path / "node.log")
    try:
        node.start()
        wait_until(lambda: len(query(database, "SELECT DISTINCT owner FROM leases WHERE name "
                                               "LIKE 'part:%%' AND expires_at > now()")) == 2,
                   20, "both workers holding partitions")
        for user in USERS:
            confirm_gen(telegram, user, f'/gen google/nano-banana prompt="limits {user}"')
        wait_until(lambda: all(media_messages(telegram, u) for u in USERS), 120,
                   "every user's result")
        owners = query(database, "SELECT DISTINCT h.owner FROM job_events e "
                                 "JOIN lease_history h ON h.epoch = e.epoch")
        assert len(owners) == 2, "both workers created and delivered jobs"
        limited = kie.stats(details=False).get("rate_limited") or {}
        assert sum(limited.values()) == 0, f"KIE answered 429: {limited}"
        flood = telegram.stats()
        assert flood["too_many_requests"] == 0, flood["too_many_requests_by_chat"]
        assert kie.stats(details=False)["creates"] == len(USERS)
    finally:
        code, log = node.finish()
    assert code == 0, log[-3000:]
