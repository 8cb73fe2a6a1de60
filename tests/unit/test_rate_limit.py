"""The local sliding-window rate limiter that keeps the node under KIE's limits."""

from __future__ import annotations

import threading
import time

import pytest

from gateways.kie.rate_limit import RateLimiter


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_twenty_per_window_then_refusal_with_the_exact_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20, 10.0, clock=clock)
    for i in range(20):
        clock.now = 1000.0 + i * 0.1  # the 20 calls spread over 1.9 s
        assert limiter.try_acquire() == 0.0
    clock.now = 1002.0
    # The first call (t=1000) leaves the window at t=1010: 8 s from now.
    assert limiter.try_acquire() == pytest.approx(8.0)
    assert limiter.headroom() == 0
    clock.now = 1010.0
    assert limiter.try_acquire() == 0.0
    # Exactly one slot was freed, and it is now taken again.
    assert limiter.try_acquire() == pytest.approx(0.1)


def test_never_more_than_rate_in_any_window() -> None:
    """The property a token bucket would break: 20 at the end of one window + 20 right after."""
    clock = FakeClock()
    # The clock counts tenths of a second (whole numbers keep the window edges exact).
    limiter = RateLimiter(20, 100, clock=clock)
    granted: list[float] = []
    for step in range(400):  # 40 s, trying 3 times every 0.1 s
        clock.now = 10_000 + step
        for _ in range(3):
            if limiter.try_acquire() == 0.0:
                granted.append(clock.now)
    for t in granted:
        in_window = [g for g in granted if t <= g < t + 100]
        assert len(in_window) <= 20
    assert len(granted) == 80  # and the limit is used fully, not overly conservatively


def test_headroom_counts_free_slots() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 1.0, clock=clock)
    assert limiter.headroom() == 10
    for _ in range(7):
        limiter.try_acquire()
    assert limiter.headroom() == 3
    assert limiter.wait_time() == 0.0
    clock.now += 1.0
    assert limiter.headroom() == 10


def test_wait_time_does_not_take_a_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 5.0, clock=clock)
    assert limiter.wait_time() == 0.0
    assert limiter.try_acquire() == 0.0
    clock.now += 2.0
    assert limiter.wait_time() == pytest.approx(3.0)
    assert limiter.wait_time() == pytest.approx(3.0)


def test_acquire_gives_up_at_once_when_the_next_token_is_after_the_timeout() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 10.0, clock=clock)
    assert limiter.acquire(0) and limiter.acquire(0)
    started = time.monotonic()
    assert limiter.acquire(5.0) is False  # next token in 10 s: waiting 5 s is pointless
    assert time.monotonic() - started < 1.0


def test_acquire_waits_for_a_freed_token_in_real_time() -> None:
    limiter = RateLimiter(2, 0.3)
    assert limiter.acquire(0) and limiter.acquire(0)
    started = time.monotonic()
    assert limiter.acquire(2.0) is True
    waited = time.monotonic() - started
    assert 0.2 < waited < 1.5


def test_concurrent_acquirers_never_exceed_the_limit() -> None:
    limiter = RateLimiter(5, 60.0)
    results: list[bool] = []
    lock = threading.Lock()
    go = threading.Event()

    def worker() -> None:
        go.wait(5)
        ok = limiter.try_acquire() == 0.0
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(5)
    assert results.count(True) == 5
    assert len(results) == 16


@pytest.mark.parametrize("rate, per", [(0, 1.0), (20, 0.0), (float("nan"), 1.0)])
def test_nonsense_limits_are_refused(rate: float, per: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, per)
