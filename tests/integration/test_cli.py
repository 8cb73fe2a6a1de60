"""``trt-node``'s command line: each subcommand asks only for the settings it uses, and
``run_node`` imports a tool only when that tool's subcommand runs."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

if TYPE_CHECKING:
    from tests.conftest import Postgres

ROOT = Path(__file__).resolve().parents[2]


def _env(**only: str) -> dict[str, str]:
    """This process's environment without any node setting, plus ``only``."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith("TRT_") and k.upper() != "DATABASE_URL"}
    return {**env, **only}


def _trt_node(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "run_node.py"), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def empty_database(postgres: Postgres) -> Iterator[str]:
    """A conninfo for a database with no schema at all (not the migrated template)."""
    name = f"trt_test_{uuid.uuid4().hex[:12]}"
    postgres.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres.conninfo(name)
    finally:
        postgres.drop_database(name)


def test_migrate_needs_only_the_database(empty_database: str, tmp_path: Path) -> None:
    env = _env(DATABASE_URL=empty_database, TRT_DATA_DIR=str(tmp_path))  # no token, no KIE key
    first = _trt_node("migrate", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "migrations applied: [" in first.stdout
    with psycopg.connect(empty_database) as conn:
        row = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert row is not None and row[0] > 0
        assert conn.execute("SELECT to_regclass('jobs')").fetchone() == ("jobs",)
    again = _trt_node("migrate", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "migrations applied: none (up to date)" in again.stdout


def test_migrate_refuses_a_bad_database_url_in_one_line() -> None:
    done = _trt_node("migrate", env=_env(DATABASE_URL="x="))
    assert done.returncode == 2
    assert done.stderr.startswith("trt-node: DATABASE_URL: must be a PostgreSQL URL")
    assert done.stderr.count("\n") == 1, done.stderr


def test_run_still_asks_for_the_token_first() -> None:
    # Named before a bad DATABASE_URL, as before the database part became a base class.
    done = _trt_node("run", env=_env(DATABASE_URL="x="))
    assert done.returncode == 2
    assert done.stderr == "trt-node: TRT_TELEGRAM_TOKEN: is required but not set\n"


def test_run_node_imports_no_tool_until_its_command_runs() -> None:
    probe = ("import sys, run_node\n"
             "try:\n"
             "    run_node.main(['--help'])\n"
             "except SystemExit:\n"
             "    pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tools', 'sandbox')))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(("command", "option"), [
    ("bench", "--quick"), ("check", "--strict"), ("e2e", "--runs")])
def test_each_tool_still_explains_its_own_options(command: str, option: str) -> None:
    done = _trt_node(command, "--help", env=_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: trt-node {command} ")
    assert option in done.stdout


def test_bench_overrides_reach_the_settings_the_node_runs_with() -> None:
    # `trt-node bench` lifts KIE's createTask limit for its node process: the environment
    # refuses such a value, so it is applied after validation. If it stops reaching the
    # node, P1 measures KIE's 20 creates / 10 s instead of our code (seen: 2.8 jobs/s).
    import run_node

    env = {"TRT_TELEGRAM_TOKEN": "123456:" + "a" * 35, "TRT_KIE_API_KEY": "k" * 16}
    loaded = run_node.load(env, {"kie_create_per_10s": 1e6})
    assert not isinstance(loaded, int), "settings refused"
    settings, _catalog = loaded
    assert settings.kie_create_per_10s == 1e6
    plain = run_node.load(env)
    assert not isinstance(plain, int) and plain[0].kie_create_per_10s <= 20
