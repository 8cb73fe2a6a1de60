"""P7: nobody waits for someone else's upload.

Users bring Crisp Upscale's wizard to its image question (its only field: the photo is
followed by the confirm screen). Other users send ``/balance`` over and over from a few
threads; each answer's latency is the bot's reply ``sent_at`` minus the user's message
``sent_at``, both recorded by the Telegram emulator (no polling granularity in them). The
p99 is taken once with nothing else going on (idle) and once while ``users`` photos of
``photo_mb`` each travel getFile → download → KIE stream upload (under load), in the same
run against the same node. Then, with the node idle again, a few users send a ``timed_mb``
photo one after another: photo → the confirm screen (the wizard's next question).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sandbox.telegram_content import make_content
from sandbox.telegram_emulator import TelegramEmulator
from tools.bench.cpu import CpuSplit
from tools.bench.env import (
    BenchEnv,
    Row,
    load_note,
    median,
    pause,
    percentile,
    wait_for,
)
from tools.bench.pipeline import UNLIMITED_TELEGRAM

FIRST_USER = 700_000
MB = 1024 * 1024
KIND, MODEL = "Upscale", "Crisp Upscale"
"""A model whose only field is an image, with no size limit of its own under 20 MB (Remove
Background takes at most 5 MB)."""
ASKED, NEXT = "photo or file", "check your order"
PROBERS = 4
"""Users sending ``/balance`` in a loop, each from a thread of its own."""
PROBE_EVERY_S = 0.1
"""A prober asks again this long after its previous question (or at once if the answer
took longer): ~40 questions/s in all. Back to back, the probes alone kept the node busy, so
"idle" was not idle and both phases measured a queue the probes made themselves."""
WARM_UP = 3
"""``/balance`` answers per prober before measuring: a new user's first ones are slower."""


def _bot_after(telegram: TelegramEmulator, user: int, message_id: int) -> bool:
    """Whether the bot has sent a message after ``message_id`` in the user's chat (loop
    thread only: read in ``wait_until``)."""
    chat = telegram.core.bot(None).chats.get(user)
    return chat is not None and any(r.sender == "bot" and r.message_id > message_id
                                    for r in chat.messages.values())


def _replies(telegram: TelegramEmulator, users: list[int]) -> tuple[int, int, set[str]]:
    """(``/balance`` messages, bot answers, the start of every second answer in a row) in
    the probers' chats."""
    asked = answered = 0
    extra: set[str] = set()
    for user in users:
        previous = "user"
        for m in telegram.messages(user, include_user=True):
            asked += m["sender"] == "user"
            answered += m["sender"] == "bot"
            if m["sender"] == previous == "bot":
                extra.add(str(m.get("plain_text") or "")[:40])
            previous = m["sender"]
    return asked, answered, extra


def _has_text(telegram: TelegramEmulator, user: int, words: str, after: int = 0) -> bool:
    return any(words in str(m.get("plain_text") or "")
               for m in telegram.messages(user, after=after))


def _press(telegram: TelegramEmulator, user: int, label: str) -> None:
    for message in reversed(telegram.messages(user)):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard") or []:
            for button in row:
                if label in button["text"]:
                    telegram.press_button(user, message["message_id"], button["callback_data"])
                    return
    raise RuntimeError(f"user {user}: no button {label!r}")


def _to_question(telegram: TelegramEmulator, users: list[int]) -> None:
    """Every user in ``users``: /start → Images → kind → model → Start → the image question."""
    steps: list[tuple[Callable[[int], Any], str]] = [
        (lambda u: telegram.send_text(u, "/start"), "What would you like to make?"),
        (lambda u: _press(telegram, u, "Images"), "what should the model do?"),
        (lambda u: _press(telegram, u, KIND), "choose a model"),
        (lambda u: _press(telegram, u, MODEL), "Price"),
        (lambda u: _press(telegram, u, "Start"), ASKED),
    ]
    for act, expect in steps:
        for user in users:
            act(user)
        def arrived(expect: str = expect) -> bool:
            return all(_has_text(telegram, u, expect) for u in users)

        wait_for(arrived, 60 + len(users), f"every user at {expect!r}", poll=0.1)


def _reply_latency(telegram: TelegramEmulator, user: int, message_id: int,
                   words: str = "") -> float:
    """Seconds from the user's message ``message_id`` to the bot's first message after it
    (containing ``words``)."""
    chat = telegram.messages(user, include_user=True)
    asked = next(m for m in chat if m["sender"] == "user" and m["message_id"] == message_id)
    answer = next(m for m in chat if m["sender"] == "bot" and m["message_id"] > message_id
                  and words in str(m.get("plain_text") or ""))
    return float(answer["sent_at"]) - float(asked["sent_at"])


class BalanceProbes:
    """``PROBERS`` users asking ``/balance`` back to back; (sent at, latency) of each."""

    def __init__(self, telegram: TelegramEmulator, first_user: int) -> None:
        self.telegram = telegram
        self.users = list(range(first_user, first_user + PROBERS))
        self.samples: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def ask(self, user: int) -> tuple[float, float]:
        sent = int(self.telegram.send_text(user, "/balance")["message_id"])
        self.telegram.wait_until(lambda: _bot_after(self.telegram, user, sent), 30)
        # Only the newest messages: copying a long chat on the emulator's loop would load the
        # loop that records the answers' times.
        chat = self.telegram.messages(user, include_user=True, after=sent - 1)
        asked = next(m for m in chat if m["sender"] == "user" and m["message_id"] == sent)
        new = [m for m in chat if m["sender"] == "bot" and m["message_id"] > sent]
        return time.time(), float(new[0]["sent_at"]) - float(asked["sent_at"])

    def warm_up(self) -> None:
        for user in self.users:
            for _ in range(WARM_UP):
                self.ask(user)

    def _loop(self, user: int) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            at, latency = self.ask(user)
            with self._lock:
                self.samples.append((at, latency))
            self._stop.wait(max(0.0, PROBE_EVERY_S - (time.monotonic() - began)))

    def start(self) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._loop, args=(u,), daemon=True)
                         for u in self.users]
        for t in self._threads:
            t.start()

    def stop(self) -> list[tuple[float, float]]:
        self._stop.set()
        for t in self._threads:
            t.join(60)
        with self._lock:
            taken, self.samples = self.samples, []
        return taken


def p7_uploads(env: BenchEnv, users: int, photo_mb: int, timed: int, timed_mb: int,
               idle_s: float, rounds: int = 3) -> list[Row]:
    """``rounds`` times: an idle phase of ``idle_s / rounds``, then ``users`` new users send
    their photos at once. Interleaved, so a change in the machine's background load falls on
    both phases alike, and with ``rounds`` times the samples a p99 is not one hiccup."""
    url = env.database("p7")
    kie_config = {"duration_s": 0, "rate_limits": False}
    with env.emulators(kie=kie_config, telegram={"flood_limits": False}) as (kie, telegram), \
            env.node(url, kie, telegram, "p7", None, TRT_WELCOME_CREDITS="100",
                     TRT_KIE_UPLOAD_URL=kie.url, **UNLIMITED_TELEGRAM) as node:
        first_timer = FIRST_USER + 2 * users * rounds
        groups = [list(range(FIRST_USER + r * users, FIRST_USER + (r + 1) * users))
                  for r in range(2 * rounds)]  # even: photos; odd: links (the control)
        timers = list(range(first_timer, first_timer + timed))
        warmer = first_timer + timed
        _to_question(telegram, [u for g in groups for u in g] + timers + [warmer])
        probes = BalanceProbes(telegram, warmer + 1)
        probes.warm_up()
        # One photo first: the node's transfer workers start on the first file.
        sent = int(telegram.send_media(warmer, "photo", size=MB)["message_id"])
        wait_for(lambda: _has_text(telegram, warmer, NEXT, sent), 60, "the warm-up photo",
                 poll=0.05)
        photo = make_content("image/jpeg", photo_mb * MB)  # made before the clock runs

        def send_photo(user: int) -> None:
            telegram.send_media(user, "photo", content=photo)

        def send_link(user: int) -> None:
            telegram.send_text(user, f"https://example.com/photos/{user}.jpg")

        idle: list[float] = []
        loaded: dict[str, list[float]] = {"photo": [], "link": []}
        windows: list[float] = []
        cpu = ""
        for index, loaders in enumerate(groups):
            what, send = ("photo", send_photo) if index % 2 == 0 else ("link", send_link)
            probes.start()  # idle
            pause.wait(idle_s / (2 * rounds))  # the idle phase; the probes run meanwhile
            idle += [lat for _, lat in probes.stop()]

            asked = {u: int(telegram.messages(u)[-1]["message_id"]) for u in loaders}
            split = CpuSplit(node)
            probes.start()
            started = time.time()
            for user in loaders:
                send(user)

            def all_asked(loaders: list[int] = loaders,
                          asked: dict[int, int] = asked) -> bool:
                return all(_has_text(telegram, u, NEXT, asked[u]) for u in loaders)

            wait_for(all_asked, 120 + 10 * users, "every loader's confirm screen", poll=0.05)
            finished = time.time()
            loaded[what] += [lat for at, lat in probes.stop() if started <= at - lat <= finished]
            if what == "photo":
                cpu = cpu or split.note()  # the first round's
                windows.append(finished - started)

        photo_to_next: list[float] = []
        for user in timers:
            sent = int(telegram.send_media(user, "photo", size=timed_mb * MB)["message_id"])

            def next_question(user: int = user, sent: int = sent) -> bool:
                return _has_text(telegram, user, NEXT, sent)

            wait_for(next_question, 60, "the timed user's confirm screen", poll=0.02)
            photo_to_next.append(_reply_latency(telegram, user, sent, NEXT))
        uploads = len(kie.uploads())
        asked_n, answered_n, extra = _replies(telegram, probes.users)
    idle_p99 = percentile(idle, 99) * 1000
    load_p99, link_p99 = (percentile(loaded[w], 99) * 1000 for w in ("photo", "link"))
    ratio = load_p99 / idle_p99 if idle_p99 > 0 else float("inf")
    link_ratio = link_p99 / idle_p99 if idle_p99 > 0 else float("inf")
    window = median(windows)
    note = (f"{rounds} rounds of: an idle phase, {users} new users × {photo_mb} MB photos at "
            f"once (Crisp Upscale's image question), an idle phase, {users} other new "
            f"users sending a link instead (the control: the same answers, no transfer); all "
            f"confirm screens {window:.1f} s after the first photo (median of the rounds) "
            f"({users * photo_mb / window:.0f} MB/s through getFile → download → KIE upload); "
            f"/balance from {PROBERS} users, each every {PROBE_EVERY_S * 1000:.0f} ms: "
            f"{len(idle)} answers idle ({idle_s:.0f} s in all), {len(loaded['photo'])} while "
            f"photos travel (p50 {median(idle) * 1000:.0f} → "
            f"{median(loaded['photo']) * 1000:.0f} ms), {len(loaded['link'])} while links "
            f"arrive (p99 {link_p99:.0f} ms); {answered_n} answers to {asked_n} /balance "
            f"messages (two in a row, once per prober, its welcome: "
            f"{sorted(extra)}); "
            f"{uploads} KIE uploads; {cpu}; {load_note()}")
    timed_note = (f"{timed} users one after another, node idle: the photo's message → the "
                  f"confirm screen, both as the Telegram emulator recorded them")
    return [
        Row("P7", f"/balance p99 idle / while {users} users send {photo_mb} MB photos",
            f"{idle_p99:.0f} / {load_p99:.0f} ms", note=note),
        Row("P7", "/balance p99 under load / idle", f"{ratio:.2f}×", "≤ 2×", ratio <= 2.0),
        Row("P7", f"control: {users} users send a link instead (no transfer), p99 / idle",
            f"{link_ratio:.2f}×",
            note="The same burst of answers without a file: what the files themselves add "
                 "is the difference between this row and the one above."),
        Row("P7", f"{timed_mb} MB photo → next question, p50 / max",
            f"{median(photo_to_next) * 1000:.0f} / {max(photo_to_next) * 1000:.0f} ms",
            note=timed_note),
    ]
