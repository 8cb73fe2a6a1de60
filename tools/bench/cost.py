"""The cost of a job (issue 16): PostgreSQL commits, Bot API calls and CPU time per job.

Commits are PostgreSQL's own count (``pg_stat_database.xact_commit`` of the bench's
database: every committed transaction, read-only ones too), read from another database so
that reading it adds nothing; the bench's own queries on the bench database (polling for
"every job delivered") are counted here and subtracted. PostgreSQL publishes a backend's
counts within about a second of its last transaction, so each reading waits that long first
(what the node's periodic work commits meanwhile is counted too: a few commits in all).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg

from sandbox.telegram_emulator import TelegramEmulator
from tools.bench.env import Row, connect, pause

STATS_DELAY_S = 1.2
"""How long PostgreSQL may keep a busy backend's counts before publishing them (1 s)."""
NOT_A_JOB = frozenset({"getUpdates", "getMe", "setMyCommands", "deleteWebhook",
                       "getWebhookInfo", "deleteMyCommands", "getMyCommands"})
"""Bot API methods a bot calls whether or not there are jobs (polling, start-up)."""


class Commits:
    """Counts the commits of one database between construction and :meth:`total`."""

    def __init__(self, database_url: str) -> None:
        info = psycopg.conninfo.conninfo_to_dict(database_url)
        self.dbname = str(info.get("dbname") or "")
        self.stats_url = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
        self.url = database_url
        self.own = 0
        """Transactions the bench itself ran on the database since the first reading."""
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        pause.wait(STATS_DELAY_S)  # the node's last transactions reach the counts first
        self.before = self._xact_commit()

    def _xact_commit(self) -> int:
        with connect(self.stats_url) as conn:
            row = conn.execute(b"SELECT xact_commit AS n FROM pg_stat_database "
                               b"WHERE datname = %(db)s", {"db": self.dbname}).fetchone()
        return int(row["n"]) if row else 0

    def one(self, sql: bytes) -> dict[str, Any] | None:
        """Run one bench query on the database (counted, and subtracted at the end)."""
        if self._conn is None:
            self._conn = connect(self.url)
        self.own += 1
        row: dict[str, Any] | None = self._conn.execute(sql).fetchone()
        return row

    def delivered(self) -> int:
        row = self.one(b"SELECT count(*) AS n FROM jobs WHERE state = 'delivered'")
        return int(row["n"]) if row else 0

    def outbox_drained(self) -> bool:
        """Nothing left to send (the node is done with the jobs' messages)."""
        row = self.one(b"SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')")
        return row is not None and int(row["n"]) == 0

    def total(self) -> int:
        """The node's commits since construction (once the jobs are done)."""
        if self._conn is not None:
            self._conn.close()  # its backend publishes its counts as it exits
            self._conn = None
        pause.wait(STATS_DELAY_S)  # the node's last transactions reach the counts first
        return self._xact_commit() - self.before - self.own


def bot_api_calls(telegram: TelegramEmulator) -> Counter[str]:
    """The emulator's count of calls per Bot API method so far."""
    return Counter({str(k): int(v) for k, v in telegram.stats()["method_calls"].items()})


def per_method(before: Counter[str], after: Counter[str]) -> Counter[str]:
    """Calls made between two readings, without the ones a bot makes with no jobs."""
    return Counter({m: after[m] - before[m] for m in after
                    if m not in NOT_A_JOB and after[m] > before[m]})


@dataclass(frozen=True, slots=True)
class JobCost:
    commits: float
    """PostgreSQL commits per job (read-only transactions included)."""
    calls: float
    """Bot API calls per job (getUpdates and start-up calls excluded)."""
    cpu_ms: float
    """CPU time per job of the bot (every process of it)."""
    methods: Counter[str]
    jobs: int

    def calls_note(self) -> str:
        return ", ".join(f"{m} {c / self.jobs:.2f}" for m, c in sorted(self.methods.items()))

    def rows(self, test: str) -> list[Row]:
        return [
            Row(test, "PostgreSQL commits per job (xact_commit)", f"{self.commits:.1f}"),
            Row(test, "Bot API calls per job", f"{self.calls:.2f}", note=self.calls_note()),
            Row(test, "CPU ms per job (the node: all its processes)", f"{self.cpu_ms:.1f}"),
        ]
