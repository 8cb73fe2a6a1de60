"""P9: answers first — what a user just did is answered ahead of everything else.

Three measurements side by side in one run, against one node, with the Telegram emulator's
flood limits on (30 msg/s per bot, a private chat's bucket of 3 refilling 1/s):

(a) one new user's ``/start`` → the menu visible (the welcome rides in it: one message),
    ``single`` users one after another with nothing else going on;
(b) ``users`` new users send ``/start`` at once → p50 / p99 / max to their menu, against the
    floor of one message each at 30/s (``users / 30`` s for the last);
(c) while a backlog of ``backlog`` results (in chats of their own) drains, the users of (b)
    press a button on their menu, ``press_rate`` presses per second → p50 / p99 / max from
    the press to its answer (the menu edited into the free models' list).

Latencies are the emulator's own times: the user's message ``sent_at`` (or the moment of the
press) to the bot's message ``sent_at`` (or the edit's ``at``).
"""

from __future__ import annotations

import functools
import time
from typing import Any

from sandbox.telegram_emulator import TelegramEmulator
from tools.bench import seed as bench_seed
from tools.bench.env import (
    BenchEnv,
    Row,
    connect,
    load_note,
    median,
    pause,
    percentile,
    wait_for,
)

TELEGRAM_PER_S = 30
MENU = "What would you like to make?"
PRESSED, ANSWER = "Free models", "Free models"
FIRST_SINGLE, FIRST_USER, FIRST_BACKLOG = 900_000, 910_000, 950_000
BACKLOG_CHATS = 200


def _menu(telegram: TelegramEmulator, user: int) -> dict[str, Any] | None:
    return next((m for m in telegram.messages(user) if MENU in str(m.get("plain_text") or "")),
                None)


def _start_latency(telegram: TelegramEmulator, user: int) -> float:
    chat = telegram.messages(user, include_user=True)
    asked = next(m for m in chat if m["sender"] == "user")
    menu = next(m for m in chat if m["sender"] == "bot" and MENU in str(m.get("plain_text")))
    return float(menu["sent_at"]) - float(asked["sent_at"])


def _answered_at(telegram: TelegramEmulator, user: int, message_id: int) -> float | None:
    """When the menu was edited into the pressed button's screen (None: not yet)."""
    for message in telegram.messages(user):
        if message["message_id"] != message_id:
            continue
        for edit in message.get("edits") or []:
            if ANSWER in str(edit.get("text") or ""):
                return float(edit["at"])
    return None


def _spread(values: list[float]) -> str:
    return (f"p50 {median(values) * 1000:.0f} ms, p99 {percentile(values, 99) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms")


def p9_answers(env: BenchEnv, single: int, users: int, backlog: int,
               press_rate: float) -> list[Row]:
    url = env.database("p9")
    floor = users / TELEGRAM_PER_S
    with env.emulators(kie={}, telegram={"strict_chats": False}) as (kie, telegram), \
            env.node(url, kie, telegram, "p9"):
        # (a) one user at a time, after a first one not counted (a node that just started
        # sends nothing for a second: the sends of a process killed just before count too).
        for user in range(FIRST_SINGLE - 1, FIRST_SINGLE + single):
            telegram.send_text(user, "/start")
            wait_for(functools.partial(_menu, telegram, user), 30, f"user {user}'s menu",
                     poll=0.01)
        one = [_start_latency(telegram, u) for u in range(FIRST_SINGLE, FIRST_SINGLE + single)]
        extra = [u for u in range(FIRST_SINGLE, FIRST_SINGLE + single)
                 if len(telegram.messages(u)) != 1]
        # (b) everyone at once.
        crowd = list(range(FIRST_USER, FIRST_USER + users))
        for user in crowd:
            telegram.send_text(user, "/start")
        wait_for(lambda: all(_menu(telegram, u) for u in crowd), 60 + 3 * floor,
                 "every user's menu", poll=0.2)
        many = [_start_latency(telegram, u) for u in crowd]
        # (c) button presses while a backlog of results drains.
        bench_seed.results(url, backlog, chats=BACKLOG_CHATS, first_chat=FIRST_BACKLOG)
        sent = b"SELECT count(*) AS n FROM outbox WHERE kind = 'result' AND status = 'sent'"

        def results_sent() -> int:
            with connect(url) as conn:
                row = conn.execute(sent).fetchone()
            return int(row["n"]) if row else 0

        wait_for(lambda: results_sent() >= 30, 60, "the backlog to start draining", poll=0.1)
        pressed: dict[int, tuple[int, float]] = {}
        started = time.monotonic()
        for i, user in enumerate(crowd):
            pause.wait(max(started + i / press_rate - time.monotonic(), 0.0))
            menu = _menu(telegram, user)
            assert menu is not None
            data = next(b["callback_data"] for row in menu["reply_markup"]["inline_keyboard"]
                        for b in row if PRESSED in b["text"])
            pressed[user] = (int(menu["message_id"]), time.time())
            telegram.press_button(user, int(menu["message_id"]), data)
        left_after_presses = backlog - results_sent()
        wait_for(lambda: all(_answered_at(telegram, u, m) for u, (m, _) in pressed.items()),
                 120, "every press answered", poll=0.2)
        presses = [float(_answered_at(telegram, u, m) or 0.0) - at
                   for u, (m, at) in pressed.items()]
        wait_for(lambda: results_sent() >= backlog, 60 + 3 * backlog / TELEGRAM_PER_S,
                 "the backlog drained", poll=0.5)
        stats = telegram.stats()
    refused = int(stats["too_many_requests"])
    load = load_note()
    worst = max(many)
    return [
        Row("P9", "(a) one user's /start → menu, p50", f"{median(one) * 1000:.0f} ms",
            "≤ 150 ms", median(one) <= 0.150,
            f"{single} new users one after another: {_spread(one)}; one message each "
            f"(welcome + menu){'' if not extra else f', except users {extra}'}; {load}"),
        Row("P9", f"(b) {users} users' /start at once → menu, max",
            f"{worst:.2f} s ({worst / floor:.2f}× the floor)",
            f"≤ 1.2× {floor:.2f} s", worst <= 1.2 * floor,
            f"{_spread(many)} (p50 {median(many) / floor:.2f}×, p99 "
            f"{percentile(many, 99) / floor:.2f}× the floor of one message each at "
            f"{TELEGRAM_PER_S}/s: {floor:.2f} s for the last)"),
        Row("P9", f"(c) button press → answer during a {backlog}-result backlog, p99",
            f"{percentile(presses, 99) * 1000:.0f} ms", "≤ 1 s", percentile(presses, 99) <= 1.0,
            f"{len(presses)} presses at {press_rate:g}/s by the users of (b) while "
            f"{backlog} results drained to {BACKLOG_CHATS} other chats ({left_after_presses} "
            f"still waiting after the last press): {_spread(presses)}"),
        Row("P9", "429 answers from Telegram", f"{refused}", "0", refused == 0,
            f"busiest second {stats['max_global_rate']} sends, most in one chat in any "
            f"second {stats['max_per_chat_rate']}"),
    ]
