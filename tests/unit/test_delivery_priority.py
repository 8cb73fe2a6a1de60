"""Delivery's scheduler: priority classes at the send gate, the starvation bound, and each
private chat's token bucket (a short burst, then one a second), checked against the Telegram
emulator's flood model so the node never earns a 429."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

import pytest

from gateways.telegram.pacer import Pacer, SendGate
from sandbox.telegram_flood import FloodLimiter
from sandbox.telegram_model import ApiError, EmulatorConfig

ANSWER, RESULT, PROGRESS, BROADCAST = 0, 1, 2, 3


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


async def _grants(gate: SendGate, clock: Clock, first: list[tuple[str, int, int]],
                  then: tuple[tuple[str, int, int], ...] | list[tuple[str, int, int]] = (),
                  *, then_at: float = 1.0) -> list[str]:
    """Queue ``(name, chat, priority)`` waiters ``first`` at time 0 while the gate is paused,
    ``then`` at ``then_at``, then let time run one slot at a time; the names in the order
    they were granted."""
    granted: list[str] = []
    moved = asyncio.Event()

    async def send(name: str, chat: int, priority: int, order: int) -> None:
        async with gate.slot(chat, 1, order, priority):
            granted.append(name)
            moved.set()

    gate.pacer.pause_all(then_at + 0.01)  # nothing goes until every waiter is queued
    tasks = [asyncio.create_task(send(n, c, p, i)) for i, (n, c, p) in enumerate(first)]
    await asyncio.sleep(0)  # let each task reach the gate (a yield, not a wait for time)
    clock.now = then_at
    tasks += [asyncio.create_task(send(n, c, p, 100 + i)) for i, (n, c, p) in enumerate(then)]
    await asyncio.sleep(0)
    clock.now = then_at + 0.01
    while len(granted) < len(first) + len(then):
        moved.clear()
        gate.kick()
        await asyncio.wait_for(moved.wait(), timeout=5)
        clock.now += 0.04  # past the launch spacing (1/30 s): exactly one more slot
    await asyncio.gather(*tasks)
    gate.close()
    return granted


def test_an_answer_goes_before_results_that_were_queued_first() -> None:
    clock = Clock()
    gate = SendGate(Pacer(30.0, 1.0), clock=clock, starve_after=60.0)
    waiters = [(f"result {i}", 100 + i, RESULT) for i in range(5)]
    waiters += [("progress", 200, PROGRESS), ("broadcast", 300, BROADCAST),
                ("answer", 400, ANSWER)]
    order = asyncio.run(_grants(gate, clock, waiters))
    assert order == ["answer", *(f"result {i}" for i in range(5)), "progress", "broadcast"]


def test_a_starved_class_gets_every_other_slot_and_answers_the_rest() -> None:
    """Results queued 6 s before a stream of answers: past the bound they alternate with the
    answers (none starves; an answer waits one slot more at worst). Within the bound, the
    answers all go first."""
    results = [(f"r{i}", 100 + i, RESULT) for i in range(3)]
    answers = [(f"a{i}", 200 + i, ANSWER) for i in range(6)]
    clock = Clock()
    gate = SendGate(Pacer(30.0, 1.0), clock=clock, starve_after=5.0)
    order = asyncio.run(_grants(gate, clock, results, answers, then_at=6.0))
    assert order == ["r0", "a0", "r1", "a1", "r2", "a2", "a3", "a4", "a5"]

    clock = Clock()
    gate = SendGate(Pacer(30.0, 1.0), clock=clock, starve_after=5.0)
    order = asyncio.run(_grants(gate, clock, results, answers, then_at=4.0))
    assert order == [*(a[0] for a in answers), *(r[0] for r in results)]


def test_a_private_chat_gets_its_burst_at_once_then_one_a_second() -> None:
    pacer = Pacer(30.0, 1.0, chat_burst=3)
    now = 10.0
    for _ in range(3):  # the burst: each send may go as soon as the previous was answered
        assert pacer.chat_wait(7, now) == 0.0
        pacer.start(7, 1, now)
        assert pacer.chat_wait(7, now) == math.inf  # one at a time per chat
        now += 0.02
        pacer.finish(7, 1, now)
    wait = pacer.chat_wait(7, now)
    assert 0.9 < wait <= 1.01  # then about one a second
    assert pacer.chat_wait(8, now) == 0.0  # another chat has its own bucket
    # Idle for 3 s: the bucket is full again.
    assert pacer.chat_wait(7, now + 3.1) == 0.0


def test_a_group_gets_one_message_every_three_seconds() -> None:
    pacer = Pacer(30.0, 1.0, chat_burst=3)
    pacer.start(-100, 1, 0.0)
    pacer.finish(-100, 1, 0.01)
    assert 2.9 < pacer.chat_wait(-100, 0.01) <= 3.01  # 20 per minute, no burst


@pytest.mark.parametrize("seed", range(4))
def test_the_bucket_never_earns_a_429_from_the_emulators_flood_model(seed: int) -> None:
    """Sends with random latency, accepted by the server anywhere between launch and answer,
    fed to the Telegram emulator's own limiter (burst 3, 1/s per chat, 30/s): no 429, and
    the backlog still drains at nearly the bot-wide limit."""
    rng = random.Random(seed)
    burst = 3
    pacer = Pacer(30.0, 1.0, chat_burst=burst)
    left = {chat: 8 for chat in range(40)}
    now, flying = 0.0, list[tuple[float, int, int]]()  # (answer time, chat, weight)
    accepted: list[tuple[float, int, int]] = []  # (server time, chat, weight)
    while any(left.values()) or flying:
        for done in [f for f in flying if f[0] <= now]:
            flying.remove(done)
            pacer.finish(done[1], done[2], done[0])
        for chat in sorted((c for c, n in left.items() if n), key=lambda c: (-left[c], c)):
            if pacer.chat_wait(chat, now) > 0:
                continue
            if pacer.global_wait(1, now) > 0:
                break
            pacer.start(chat, 1, now)
            answer = now + min(rng.expovariate(1 / 0.03), 0.5)
            flying.append((answer, chat, 1))
            accepted.append((rng.uniform(now, answer), chat, 1))
            left[chat] -= 1
        waits = [pacer.chat_wait(c, now) for c, n in left.items() if n]
        waits += [pacer.global_wait(1, now)] + [f[0] - now for f in flying]
        now += max(min((w for w in waits if 0 < w < math.inf), default=0.001), 1e-4)
    server = FloodLimiter(EmulatorConfig(per_chat_burst=burst))
    for at, chat, weight in sorted(accepted):
        try:
            server.check("bot", chat, at, weight)
        except ApiError as refused:  # pragma: no cover - the failure's message
            raise AssertionError(f"429 for chat {chat} at {at:.3f}") from refused
        server.record("bot", chat, at, weight)
    assert server.too_many == 0
    span = accepted[-1][0] - accepted[0][0]
    assert len(accepted) / span > 0.85 * 30  # and the backlog still drains at nearly 30/s
