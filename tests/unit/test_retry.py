"""The one retry helper: backoff growth, cap and jitter; decisions; Retry-After as seconds."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from trt_actors.infra.retry import Action, Backoff, Decision, RetryPolicy, retry_after_seconds

# --- Backoff -----------------------------------------------------------------------------------


def test_backoff_doubles_from_base_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=10.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_survives_any_number_of_failures() -> None:
    assert Backoff(base=1.0, cap=30.0).delay(100_000) == 30.0
    assert Backoff(base=1.0, cap=30.0, factor=3.0).ceiling(10_000) == 30.0


def test_backoff_factor_one_is_a_steady_delay() -> None:
    steady = Backoff(base=1.0, cap=1.0, factor=1.0)
    assert {steady.delay(n) for n in range(1, 50)} == {1.0}


def test_backoff_without_jitter_draws_no_random_number() -> None:
    rng = random.Random(7)
    state = rng.getstate()
    Backoff(base=1.0, cap=8.0).delay(3, rng)
    assert rng.getstate() == state


@pytest.mark.parametrize("jitter", [(0.8, 1.2), (0.5, 1.0), (1.0, 1.5), (0.0, 1.0)])
def test_jitter_stays_within_its_bounds_and_spreads(jitter: tuple[float, float]) -> None:
    backoff = Backoff(base=1.0, cap=30.0, jitter=jitter)
    rng = random.Random(1)
    for attempt in range(1, 10):
        ceiling = min(30.0, 2.0 ** (attempt - 1))
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(jitter[0] * ceiling <= d <= jitter[1] * ceiling for d in delays)
        assert max(delays) - min(delays) > 0.5 * (jitter[1] - jitter[0]) * ceiling


def test_full_jitter_matches_the_former_tenacity_wait() -> None:
    # tenacity's wait_random_exponential drew random.uniform(0, min(cap, base * 2**(n-1))).
    backoff = Backoff(base=0.5, cap=8.0, jitter=(0.0, 1.0))
    for attempt in range(1, 8):
        ours, theirs = random.Random(attempt), random.Random(attempt)
        high = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert backoff.delay(attempt, ours) == pytest.approx(theirs.uniform(0, high))


@pytest.mark.parametrize("kwargs", [
    {"base": -1.0, "cap": 1.0},
    {"base": 1.0, "cap": -1.0},
    {"base": 1.0, "cap": 1.0, "factor": 0.5},
    {"base": 1.0, "cap": 1.0, "jitter": (1.2, 0.8)},
    {"base": 1.0, "cap": 1.0, "jitter": (-0.1, 1.0)},
])
def test_backoff_refuses_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


# --- decisions ---------------------------------------------------------------------------------

POLICY = RetryPolicy(Backoff(base=1.0, cap=4.0), max_attempts=3, max_wait=5.0)


def test_transient_failure_backs_off() -> None:
    assert POLICY.decide(1) == Decision(Action.BACKOFF, 1.0)
    assert POLICY.decide(2) == Decision(Action.BACKOFF, 2.0)
    assert POLICY.decide(2).retry


def test_the_servers_wait_wins_over_the_backoff_zero_included() -> None:
    assert POLICY.decide(1, retry_after=3.0) == Decision(Action.WAIT, 3.0)
    assert POLICY.decide(2, retry_after=0.0) == Decision(Action.WAIT, 0.0)


def test_a_wait_longer_than_max_wait_stops_and_keeps_the_wait() -> None:
    decision = POLICY.decide(1, retry_after=120.0)
    assert decision == Decision(Action.STOP, 120.0) and not decision.retry


def test_attempts_spent_stop() -> None:
    assert POLICY.decide(3) == Decision(Action.STOP, 0.0)
    assert POLICY.decide(3, retry_after=1.0).action is Action.STOP


def test_a_permanent_failure_stops_at_once() -> None:
    assert POLICY.decide(1, retryable=False).action is Action.STOP


def test_without_limits_the_loop_never_stops() -> None:
    forever = RetryPolicy(Backoff(base=1.0, cap=30.0))
    assert forever.decide(10_000).action is Action.BACKOFF
    assert forever.decide(1, retry_after=86_400.0) == Decision(Action.WAIT, 86_400.0)


def test_decide_uses_the_given_random_source() -> None:
    policy = RetryPolicy(Backoff(base=1.0, cap=60.0, jitter=(0.5, 1.0)), max_attempts=10)
    first = policy.decide(4, rng=random.Random(3)).delay
    assert first == policy.decide(4, rng=random.Random(3)).delay
    assert 4.0 <= first <= 8.0


# --- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [
    (3, 3.0), (0, 0.0), (2.5, 2.5), ("120", 120.0), ("0.3", 0.3), (" 7 ", 7.0),
    (timedelta(seconds=42), 42.0), (timedelta(milliseconds=1500), 1.5),
    (-5, 0.0), ("-1", 0.0), (timedelta(seconds=-3), 0.0),
])
def test_retry_after_as_seconds(value: object, seconds: float) -> None:
    assert retry_after_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [
    None, "", "soon", "nan", "inf", float("nan"), float("inf"), True, b"3", [3], object(),
])
def test_absent_or_malformed_retry_after_is_none(value: object) -> None:
    assert retry_after_seconds(value) is None


def test_retry_after_as_an_http_date() -> None:
    at = datetime.now(UTC) + timedelta(seconds=60)
    assert 58.0 <= (retry_after_seconds(format_datetime(at, usegmt=True)) or 0.0) <= 60.0
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds(past) == 0.0


def test_retry_after_limit() -> None:
    assert retry_after_seconds("86400", limit=3600.0) == 3600.0
    assert retry_after_seconds(timedelta(hours=2), limit=3600.0) == 3600.0
    assert retry_after_seconds("12", limit=3600.0) == 12.0
    assert retry_after_seconds("never", limit=3600.0) is None
    far = format_datetime(datetime.fromtimestamp(time.time() + 7 * 86400, UTC), usegmt=True)
    assert retry_after_seconds(far, limit=3600.0) == 3600.0
