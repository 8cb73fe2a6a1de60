"""Two nodes, as separate processes with separate data directories, on one PostgreSQL: the
partitions split between them, one polls Telegram, each user's job runs on the node that
owns the user's chat, and a `kill -9` of either hands its share to the other within
seconds, nothing lost, nothing done twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import query
from tests.acceptance.harness import NodeProcess, media_messages, wait_until
from tests.acceptance.test_node import confirm_gen

pytestmark = pytest.mark.acceptance

PARTITIONS = 64


@pytest.fixture
def nodes(database: str, kie: KieEmulator, telegram: TelegramEmulator,
          tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    made = tuple(
        NodeProcess(database, kie, telegram, tmp_path / f"{name}.log", TRT_WORKERS="1",
                    TRT_NODE_NAME=name, TRT_DATA_DIR=str(tmp_path / name))
        for name in ("alpha", "beta"))
    try:
        yield made  # type: ignore[misc]
    finally:
        for node in made:
            code, log = node.finish()
            assert code in (0, -9), f"{node.log_path.name} exited {code}:\n{log[-3000:]}"


def leases(database: str) -> list[dict[str, Any]]:
    return query(database, "SELECT l.name, w.node FROM leases l JOIN workers w ON w.id = l.owner "
                           "WHERE l.expires_at > now()")


def split(database: str) -> dict[str, int]:
    count: dict[str, int] = {}
    for row in leases(database):
        if row["name"].startswith("part:"):
            count[row["node"]] = count.get(row["node"], 0) + 1
    return count


def owner(database: str, name: str) -> str | None:
    return next((r["node"] for r in leases(database) if r["name"] == name), None)


def chats_of(database: str, node: str, n: int, start: int) -> list[int]:
    parts = {int(r["name"][5:]) for r in leases(database)
             if r["name"].startswith("part:") and r["node"] == node}
    return [c for c in range(start, start + 10 * PARTITIONS) if c % PARTITIONS in parts][:n]


def generate(telegram: TelegramEmulator, users: list[int]) -> None:
    for user in users:
        confirm_gen(telegram, user, f'/gen google/nano-banana prompt="picture {user}"')


def test_two_nodes_share_the_chats_and_survive_each_others_kill9(
    nodes: tuple[NodeProcess, NodeProcess], telegram: TelegramEmulator, kie: KieEmulator,
    database: str,
) -> None:
    alpha, beta = nodes
    alpha.start()
    beta.start()
    wait_until(lambda: split(database) == {"alpha": 32, "beta": 32}, 20,
               "the partitions split between the nodes")
    status = beta.status()
    assert {w["node"] for w in status["workers"] if w["alive"]} == {"alpha", "beta"}
    assert status["checks"]["leases"]["partitions_leased"] == PARTITIONS
    leader = owner(database, "intake")
    assert leader in ("alpha", "beta")

    # Users of both nodes' chats: each job is made and applied by its chat's owner.
    users = chats_of(database, "alpha", 3, 1000) + chats_of(database, "beta", 3, 1000)
    generate(telegram, users)
    wait_until(lambda: all(media_messages(telegram, u) for u in users), 60,
               "every user's result")
    events = query(database, "SELECT DISTINCT h.owner FROM job_events e "
                             "JOIN lease_history h ON h.epoch = e.epoch")
    assert len({e["owner"].split("/")[0] for e in events}) == 2, \
        "both nodes worked on their own chats' jobs"

    # The intake leader dies: the other takes its partitions and the intake within 5 s.
    dead, alive = (alpha, beta) if leader == "alpha" else (beta, alpha)
    survivor = "beta" if leader == "alpha" else "alpha"
    orphaned = chats_of(database, leader, 3, 5000)
    dead.kill9()
    killed_at = time.monotonic()
    wait_until(lambda: owner(database, "intake") == survivor
               and split(database) == {survivor: PARTITIONS}, 10, "the takeover")
    assert time.monotonic() - killed_at <= 5.0 + 1.0, "taken over within the lease's 5 s"
    generate(telegram, orphaned)
    wait_until(lambda: all(media_messages(telegram, u) for u in orphaned), 60,
               "results for the dead node's chats")

    # The dead node comes back: the work splits again, and nothing was done twice.
    dead.start()
    wait_until(lambda: split(database) == {"alpha": 32, "beta": 32}, 20, "the split again")
    everyone = users + orphaned
    wait_until(lambda: not query(database, "SELECT 1 FROM jobs WHERE state NOT IN "
                                           "('delivered', 'failed')"), 30, "every job ended")
    jobs = query(database, "SELECT user_id, state FROM jobs ORDER BY user_id")
    assert [j["user_id"] for j in jobs] == sorted(everyone)
    assert {j["state"] for j in jobs} == {"delivered"}
    assert all(len(media_messages(telegram, u)) == 1 for u in everyone)
    assert kie.stats(details=False)["creates"] == len(everyone), "one paid task per job"
    held = query(database, "SELECT sum(held) AS held FROM users")[0]["held"]
    assert held == 0
    assert alive.status()["ready"]
    assert telegram.poll_overlaps() == 0, "never two getUpdates at once"
