"""P5: a backlog of results drained into Telegram with its flood limits enforced."""

from __future__ import annotations

import time

from tools.bench import seed as bench_seed
from tools.bench.env import BenchEnv, Row, connect, wait_for

TELEGRAM_PER_S = 30
"""Telegram's bot-wide limit (the emulator's and the node's default)."""
FIRST_CHAT = 300_000
CHAT_BURST = 3
"""A private chat's bucket: the emulator's ``per_chat_burst`` and the node's
``TRT_TELEGRAM_CHAT_BURST`` (both default to it)."""


def p5_backlog(env: BenchEnv, n: int, chats: int) -> list[Row]:
    """``n`` results across ``chats`` chats appear in the outbox in one transaction while the
    node runs; the Telegram emulator enforces 30 msg/s per bot and, per chat, a burst of
    ``CHAT_BURST`` then 1 msg/s."""
    url = env.database("p5")
    sent = b"SELECT count(*) AS n FROM outbox WHERE status = 'sent'"
    with env.emulators(kie={}, telegram={"strict_chats": False}) as (kie, telegram), \
            env.node(url, kie, telegram, "p5"):
        bench_seed.results(url, n, chats=chats, first_chat=FIRST_CHAT)
        committed = time.time()

        def drained() -> bool:
            with connect(url) as conn:
                row = conn.execute(sent).fetchone()
            return bool(row and int(row["n"]) >= n)

        wait_for(drained, 60 + 3 * n / TELEGRAM_PER_S, "the backlog drained", poll=0.2)
        stats = telegram.stats()
        last_wall = max(float(m["sent_at"]) for chat in range(chats)
                        for m in telegram.messages(FIRST_CHAT + chat))
    times = sorted(t for per_chat in stats["send_times"].values() for t in per_chat)
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    overall = n / (last_wall - committed)
    share = steady / TELEGRAM_PER_S
    refused = int(stats["too_many_requests"])
    note = (f"{n} results in {chats} chats; first to last send {steady:.1f} msg/s, from the "
            f"commit of the backlog {overall:.1f} msg/s; busiest second "
            f"{stats['max_global_rate']} sends")
    return [
        Row("P5", f"drain rate vs {TELEGRAM_PER_S} msg/s", f"{share:.1%}", "≥ 95 %",
            share >= 0.95, note),
        Row("P5", "429 answers from Telegram", f"{refused}", "0", refused == 0),
        Row("P5", "max sends in one chat in any second", f"{stats['max_per_chat_rate']}",
            f"≤ {CHAT_BURST} (the burst)", int(stats["max_per_chat_rate"]) <= CHAT_BURST),
    ]
