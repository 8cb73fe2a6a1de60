"""Update ids are not forever-unique, and the node must not go deaf when they go backwards.

Telegram picks a random next update id after a week without updates (it may be lower than
every id the node stored), and another bot token is another sequence. A real node (in
process: the intake actor, chat actors, delivery, a real PostgreSQL) talks to an emulated
Telegram that is restarted, or whose ids jump back, while the node runs, while it is down,
or both; then the node is started with another bot's token. Every user must be answered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

import sql
from sandbox.kie_emulator import KieEmulator
from tests.conftest import Postgres
from tests.support.telegram_node import (
    KIE_KEY,
    MENU,
    TOKEN_B,
    Telegram,
    assert_all_answered,
    say_start,
    start_node,
)
from tests.support.waiting import wait_until
from trt_actors.infra.migrations import migrate


@pytest.fixture(scope="module")
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, seed=9) as emu:
        yield emu


@pytest.fixture
def telegram() -> Iterator[Telegram]:
    tg = Telegram()
    try:
        yield tg
    finally:
        tg.stop()


def test_telegram_restarted_with_lower_ids_while_the_node_runs(
    database: str, telegram: Telegram, kie: KieEmulator,
) -> None:
    emu = telegram.start(next_update_id=5000)
    node = start_node(database, telegram, kie)
    try:
        say_start(emu, range(1, 7))
        assert_all_answered(emu, range(1, 7))
        emu = telegram.restart(next_update_id=1)  # far below what the node has seen
        say_start(emu, [*range(11, 17), 1])  # new users, and one who wrote before
        assert_all_answered(emu, [*range(11, 17), 1])
    finally:
        node.stop()


def test_node_restarted_after_telegram_moved_to_lower_ids(
    database: str, telegram: Telegram, kie: KieEmulator,
) -> None:
    emu = telegram.start(next_update_id=5000)
    node = start_node(database, telegram, kie)
    try:
        say_start(emu, range(1, 7))
        assert_all_answered(emu, range(1, 7))
    finally:
        node.stop()
    emu.set_next_update_id(40)  # a week without updates while the node was down
    say_start(emu, range(21, 27))  # written while the node is down: Telegram keeps them
    node = start_node(database, telegram, kie)
    try:
        say_start(emu, [1, 2])
        assert_all_answered(emu, [*range(21, 27), 1, 2], menus=1)
        assert_all_answered(emu, [1, 2], menus=2)
    finally:
        node.stop()


def test_node_and_telegram_both_restarted_with_ids_from_1(
    database: str, telegram: Telegram, kie: KieEmulator,
) -> None:
    emu = telegram.start(next_update_id=500)
    node = start_node(database, telegram, kie)
    try:
        say_start(emu, range(1, 11))
        assert_all_answered(emu, range(1, 11))
    finally:
        node.stop()
    emu = telegram.restart(next_update_id=1)
    node = start_node(database, telegram, kie)
    try:
        say_start(emu, range(31, 51))
        assert_all_answered(emu, range(31, 51))
    finally:
        node.stop()


def test_another_bot_token_with_the_same_update_ids(
    database: str, telegram: Telegram, kie: KieEmulator,
) -> None:
    emu = telegram.start(next_update_id=1)
    node = start_node(database, telegram, kie)
    try:
        say_start(emu, range(1, 9))
        assert_all_answered(emu, range(1, 9))
    finally:
        node.stop()
    # The operator switches TRT_TELEGRAM_TOKEN to another bot: its ids are its own, and the
    # first ones are exactly the ids the node stored for the first bot a moment ago.
    node = start_node(database, telegram, kie, token=TOKEN_B)
    try:
        say_start(emu, [*range(41, 47), 1, 2], token=TOKEN_B)
        assert_all_answered(emu, [*range(41, 47), 1, 2], token=TOKEN_B)
    finally:
        node.stop()


def test_rows_stored_before_the_upgrade_belong_to_the_bot_in_use(
    postgres: Postgres, telegram: Telegram, kie: KieEmulator, request: pytest.FixtureRequest,
) -> None:
    """A database from before migration 0007: the node had stored and answered update 5000
    but not yet confirmed it when it was stopped for the upgrade. After it, Telegram sends
    5000 again: still a repeat (the rows are the running bot's), and new rows never take an
    inbox id an old reply's dedup key already names."""
    name = f"trt_upgrade_{uuid.uuid4().hex[:10]}"
    postgres.execute(f'CREATE DATABASE "{name}"')
    request.addfinalizer(lambda: postgres.drop_database(name))
    database = postgres.conninfo(name)
    emu = telegram.start(next_update_id=5000)
    sent = emu.send_text(7, "/start")  # pending at Telegram: stored but never confirmed
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version int PRIMARY KEY, name text "
                     "NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for m in sql.migrations():
            if m.version < 7:
                conn.execute(m.sql.encode())
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                             (m.version, m.name))
        conn.execute("INSERT INTO telegram_updates (update_id, chat_id, payload, handled_at) "
                     "VALUES (4990, 7, '{}', now()), (5000, 7, %s, now())",
                     (json.dumps({"update_id": 5000, "message": {"text": "/start"}}),))
        conn.execute("INSERT INTO node_state (key, value) VALUES ('telegram_offset', '5001')")
        conn.execute("INSERT INTO outbox (chat_id, kind, payload, dedup_key, status, sent_at) "
                     "VALUES (7, 'text', '{}', 'upd:5000:0', 'sent', now())")
    migrate(database)
    node = start_node(database, telegram, kie)
    try:
        emu.send_text(7, "/balance")

        def texts() -> list[str]:
            return [m["plain_text"] or "" for m in emu.messages(7)]

        wait_until(lambda: any("Your balance" in t for t in texts()), 20, "the /balance answer")
        assert not any(MENU in t for t in texts()), f"5000 was answered twice: {texts()}"
    finally:
        node.stop()
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT update_id, telegram_update_id, bot_id FROM telegram_updates "
                            "ORDER BY update_id").fetchall()
    assert rows == [(4990, 4990, 111111), (5000, sent["update_id"], 111111),
                    (5002, 5001, 111111)]
