"""Chaos and fuzz fixtures, and the ``--full`` switch.

CI runs the small profile (``pytest tests/chaos``); ``pytest tests/chaos --full`` runs the
full one: 1,000 jobs with every fault combined and 5 kills, and 100,000 fuzz cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from trt_actors.infra.embedded_pg import EmbeddedPostgres
from trt_actors.infra.migrations import migrate


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", default=False,
                     help="chaos: 1,000 jobs, all faults, 5 kills; fuzz: 100,000 cases")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a chaos run of the real node with faults")
    config.addinivalue_line("markers", "fuzz: hypothesis-driven fuzzing of a running edge")


@pytest.fixture(scope="session")
def full(request: pytest.FixtureRequest) -> bool:
    """True under ``--full``."""
    return bool(request.config.getoption("--full", default=False))


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, str]]:
    """A PostgreSQL server of this test's own (it will be stopped mid-run), whatever
    ``DATABASE_URL`` says, and a migrated database on it."""
    embedded = EmbeddedPostgres(tmp_path / "pg" / "data")
    admin = embedded.start()
    name = f"trt_chaos_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    conninfo = embedded.uri(name)
    migrate(conninfo)
    try:
        yield embedded, conninfo
    finally:
        embedded.stop()
