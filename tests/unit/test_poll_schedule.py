"""The status poller's schedule (``gateways.kie.poller.poll_delay``) against KIE's guidance.

KIE suggests polling every 2–3 s for the first 30 s, every 5–10 s until 2 min, then every
15–30 s. The poller may wait longer far from a model's expected end (there is nothing to see
yet), never shorter than the band allows — the status budget (10 queries/s for the whole
node) is shared by every job in flight.
"""

from __future__ import annotations

import random
import statistics

import pytest

from gateways.kie.poller import poll_delay
from trt_actors.actors.job import SubmitPolicy

EXPECTED = (5, 10, 20, 30, 60, 120, 180, 300, 600)
"""Expected durations of the catalog's models span these."""


def band(age: float) -> tuple[float, float]:
    if age < 30:
        return 2.0, 3.0
    if age < 120:
        return 5.0, 10.0
    return 15.0, 30.0


def ages(until: float, step: float = 0.25) -> list[float]:
    return [n * step for n in range(int(until / step))]


@pytest.mark.parametrize("expected", EXPECTED)
def test_every_delay_is_in_kies_band_or_a_longer_wait_far_from_the_end(expected: int) -> None:
    rng = random.Random(expected)
    for age in ages(4 * expected + 300):
        floor, ceiling = band(age)
        for _ in range(5):
            delay = poll_delay(age, expected, rng)
            assert delay >= floor, (age, delay)
            assert delay <= 30.0, (age, delay)
            if age >= 0.5 * expected:
                assert delay <= ceiling, (age, delay)


@pytest.mark.parametrize("expected", EXPECTED)
def test_near_the_expected_end_the_result_is_noticed_soon(expected: int) -> None:
    rng = random.Random(expected)
    for age in ages(2 * expected):
        if age >= 0.5 * expected:
            floor, _ = band(age)
            assert poll_delay(age, expected, rng) <= 1.15 * max(floor, 0.1 * expected)


def test_jobs_submitted_together_spread_out() -> None:
    rng = random.Random(1)
    for age in (1.0, 40.0, 200.0):
        delays = {round(poll_delay(age, 10, rng), 3) for _ in range(50)}
        assert len(delays) > 25, (age, delays)


def simulate(task_seconds: float, expected: float, rng: random.Random) -> tuple[int, float]:
    """(status queries, seconds from the task's end to the query that sees it) for one job."""
    age, polls = SubmitPolicy().first_poll, 1
    while age < task_seconds:
        age += poll_delay(age, expected, rng)
        polls += 1
    return polls, age - task_seconds


def test_poll_count_for_a_60_s_task() -> None:
    rng = random.Random(60)
    runs = [simulate(60.0, 60.0, rng) for _ in range(500)]
    counts = [c for c, _ in runs]
    lags = [lag for _, lag in runs]
    # KIE's bands taken literally (2.5 s to 30 s, then 7.5 s) would need about 16 queries.
    print(f"\n60 s task (model expects 60 s): {statistics.mean(counts):.1f} status queries per "
          f"job (min {min(counts)}, max {max(counts)}); result seen "
          f"{statistics.mean(lags):.1f} s after it is ready (max {max(lags):.1f} s)")
    assert min(counts) >= 8 and max(counts) <= 13
    assert max(lags) <= 7.0


def test_an_overdue_short_task_is_asked_at_kies_pace_not_every_two_seconds() -> None:
    # A 10-s model whose task hangs until the 300-s deadline: KIE's bands allow about
    # 13 + 17 + 12 = 42 queries; the old schedule asked every 2.5 s (120).
    rng = random.Random(5)
    polls, _ = simulate(300.0, 10.0, rng)
    assert polls <= 50
