"""Alerts pushed to the admins in Telegram, deduplicated and rate-limited, each cleared.

The conditions (``domain.alerts`` for /status, KIE's credit balance, model failure rates,
the delivery backlog, poison updates, a supervisor that gave up) are observed on a schedule
by ``actors.alert_pusher``; this module keeps what was seen and what the admins were told in
``alert_pushes`` and writes the messages to the outbox (the normal delivery).

A key's change (raised, or cleared) is pushed when what the admins were last told differs
from the condition and the key's last push is at least ``min_interval`` seconds old: a
condition that flaps is told at most once per interval, and one that comes and goes between
two pushes is not told at all. The guarded UPDATE (``alert_notify``) makes each change one
push even across restarts; each admin's row has its own dedup key.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from trt_actors.domain import outbox
from trt_actors.infra.store import Tx

Text = Callable[[int, bool, str], str]
"""``(admin id, raised?, message) -> the line that admin reads``."""


def observe(tx: Tx, active: Mapping[str, str]) -> None:
    """Record the conditions seen now: ``active`` maps each raised key to its message; every
    other key known is clear."""
    known = {row["key"]: row for row in tx.all("alert_rows")}
    for key, message in active.items():
        tx.run("alert_observe", key=key, active=True, message=message[:1000])
    for key, row in known.items():
        if key not in active and row["active"]:
            tx.run("alert_observe", key=key, active=False, message=row["message"])


def notify(tx: Tx, admins: Collection[int], text: Text, *, min_interval: float) -> list[str]:
    """Push every change that is due to every admin; the keys pushed."""
    pushed: list[str] = []
    for row in tx.all("alert_rows"):
        if row["active"] == row["notified"]:
            continue
        done = tx.one("alert_notify", key=row["key"], min_interval=min_interval)
        if done is None:
            continue  # told too recently: pushed at a later look, if it still holds
        for admin in sorted(admins):
            outbox.add(tx, admin, "text", {"text": text(admin, bool(done["active"]),
                                                        done["message"])},
                       dedup_key=f"alert:{done['key']}:{done['pushes']}:{admin}")
        pushed.append(done["key"])
    return pushed


def raise_now(tx: Tx, key: str, message: str, admins: Collection[int], text: Text) -> None:
    """Raise ``key`` and tell the admins at once, whatever the interval (the node is about to
    exit: a supervisor gave up)."""
    tx.run("alert_observe", key=key, active=True, message=message[:1000])
    notify(tx, admins, text, min_interval=0.0)
