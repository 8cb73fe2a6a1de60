"""Chaos runs of the real node: every confirmed job ends once, paid once, whatever breaks.

Each test is one fault profile (small in CI, bigger under ``--full``); the invariants are in
:mod:`tests.chaos.invariants`. A run prints one ``CHAOS {...}`` line with its counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chaos.harness import ChaosRun, Profile
from tests.chaos.invariants import check
from trt_actors.infra.embedded_pg import EmbeddedPostgres

pytestmark = [pytest.mark.acceptance, pytest.mark.chaos, pytest.mark.timeout(900)]

CALLBACK_CHAOS: dict[str, Any] = {"callbacks": {
    "duplicate": {"times": 3},                 # every callback three times
    "out_of_order": {"fraction": 0.5},         # Suno: complete first; market: success, then fail
    "early": {"fraction": 0.3},                # all callbacks before the createTask answer
    "drop": {"fraction": 0.5},
    "malformed": {"fraction": 0.1, "mode": "truncated"},
}}

KIE_FAULTS: dict[str, Any] = {"endpoints": {
    # ``next: 1`` makes each kind fire at least once; then about 20 % of calls fail.
    "create": [
        {"kind": "error", "http_status": 500, "next": 1, "fraction": 0.05},
        {"kind": "error", "http_status": 429, "retry_after": 1, "next": 1, "fraction": 0.05},
        {"kind": "error", "http_status": 455, "next": 1, "fraction": 0.05},
        {"kind": "drop", "next": 1, "fraction": 0.05},   # task created, answer lost
    ],
    "status": [
        {"kind": "error", "http_status": 500, "fraction": 0.07},
        {"kind": "error", "http_status": 429, "retry_after": 1, "fraction": 0.07},
        {"kind": "error", "http_status": 455, "fraction": 0.07},
    ],
}}

TELEGRAM_FAULTS: tuple[dict[str, Any], ...] = (
    {"method": "*", "kind": "error", "status": 502, "fraction": 0.05},
    {"method": "*", "kind": "flood", "retry_after": 1, "fraction": 0.05},
)

SMALL_USERS = 20


def run_profile(profile: Profile, database: str, tmp_path: Path,
                embedded: EmbeddedPostgres | None = None) -> None:
    outcome = ChaosRun(profile, database, tmp_path, embedded).run()
    report = check(outcome)
    print(report.line())
    assert not report.violations, "\n".join(report.violations[:20])
    assert report.jobs == profile.jobs, "every user's orders were confirmed"


def test_kill9_at_random_moments(database: str, tmp_path: Path, full: bool) -> None:
    run_profile(Profile("kill9", users=SMALL_USERS, kills=5 if full else 2, seed=11),
                database, tmp_path)


def test_callback_chaos(database: str, tmp_path: Path, full: bool) -> None:
    run_profile(Profile("callbacks", users=SMALL_USERS, kie_faults=CALLBACK_CHAOS,
                        flood=1000 if full else 120, seed=12), database, tmp_path)


def test_kie_faults(database: str, tmp_path: Path, full: bool) -> None:
    run_profile(Profile("kie", users=SMALL_USERS, kie_faults=KIE_FAULTS, seed=13),
                database, tmp_path)


def test_telegram_faults_and_a_blocked_user(database: str, tmp_path: Path, full: bool) -> None:
    run_profile(Profile("telegram", users=SMALL_USERS, telegram_faults=TELEGRAM_FAULTS,
                        blocked_users=1, seed=14), database, tmp_path)


def test_postgres_stopped_and_restarted(own_postgres: tuple[EmbeddedPostgres, str],
                                        tmp_path: Path, full: bool) -> None:
    embedded, database = own_postgres
    run_profile(Profile("postgres", users=SMALL_USERS, pg_outages=2 if full else 1, seed=15),
                database, tmp_path, embedded)


def test_everything_at_once(own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path,
                            full: bool) -> None:
    """The full profile: 1,000 jobs, every fault combined, 5 kills (CI: a small taste)."""
    embedded, database = own_postgres
    faults = {**CALLBACK_CHAOS, **KIE_FAULTS}
    profile = (Profile("full", users=200, jobs_per_user=5, kills=5, pg_outages=1,
                       kie_faults=faults, telegram_faults=TELEGRAM_FAULTS, blocked_users=2,
                       user_threads=24, settle_timeout=900, seed=16)
               if full else
               Profile("combined", users=12, kills=1, kie_faults=faults,
                       telegram_faults=TELEGRAM_FAULTS, blocked_users=1, seed=16))
    run_profile(profile, database, tmp_path, embedded)


def test_workers_kill9(own_postgres: tuple[EmbeddedPostgres, str], tmp_path: Path,
                       full: bool) -> None:
    """Issue 16: the node as two worker processes on one PostgreSQL, under kills of a random
    worker, of the intake leader and (full) of the whole node; the invariants of one process
    hold, and never two getUpdates at once, no write under a stale lease epoch. Full: the
    full profile of ``test_everything_at_once`` with two workers."""
    embedded, database = own_postgres
    faults = {**CALLBACK_CHAOS, **KIE_FAULTS}
    profile = (Profile("workers-full", users=200, jobs_per_user=5, kills=5, pg_outages=1,
                       kie_faults=faults, telegram_faults=TELEGRAM_FAULTS, blocked_users=2,
                       user_threads=24, settle_timeout=900, workers=2, seed=17)
               if full else
               Profile("workers", users=SMALL_USERS, kills=2, workers=2, seed=17))
    run_profile(profile, database, tmp_path, embedded)
