"""Parked orphan callbacks and their cap: they keep their whole body, within bounds.

A callback for no known job is parked (legitimately when KIE's callback beats the commit of
our task id) and keeps its whole body so its job can claim it later. Anyone can send one,
so parked callbacks are capped in rows and bytes (``TRT_ORPHAN_MAX_ROWS``,
``TRT_ORPHAN_MAX_BYTES``). Over the cap, the oldest are expired first: the row stays as a
digest record (sha256, size, the first KB, source, reason ``CAP_REASON``), the body goes.

``trim`` runs in the same transaction as every insert that may park an orphan, under one
advisory lock (so nobody ever sees the cap exceeded, even during a flood), and at every
janitor sweep, whose ``watch`` raises and clears the alert. A trim leaves room
(``low_water``), so a flood trims once per tenth of the cap, not per callback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from trt_actors.domain.alerts import Alerts
from trt_actors.infra.store import Store, Tx

log = logging.getLogger("trt.orphans")

CAP_REASON = "over the orphan cap"
"""The ``reason`` of an orphan expired for the cap (the queries name it literally too)."""
ALERT_KEY = "orphan_cap"


@dataclass(frozen=True, slots=True)
class OrphanCap:
    """How much parked callbacks may hold."""

    max_rows: int = 10_000
    """Parked callbacks at most (``TRT_ORPHAN_MAX_ROWS``)."""
    max_bytes: int = 64 << 20
    """Bytes of parked bodies at most (``TRT_ORPHAN_MAX_BYTES``)."""
    low_water: float = 0.9
    """A trim leaves this share of each limit, so the next orphans fit without a trim."""
    alert_quiet_s: float = 60.0
    """The alert clears once parked callbacks are under the cap and none was expired for it
    for this long (a flood that goes on keeps it raised instead of flapping)."""

    def over(self, rows: int, size: int) -> bool:
        return rows > self.max_rows or size > self.max_bytes


def trim(tx: Tx, cap: OrphanCap) -> int:
    """In a transaction: take the cap's lock (held until it ends; taking it twice is fine)
    and, when over the cap, expire the oldest down to ``low_water`` of it. Returns how many.
    Under the cap it costs one read of the parked callbacks' index."""
    tx.one("orphans_lock")
    usage = tx.one("orphans_usage")
    if usage is None or not cap.over(usage["n"], usage["bytes"]):
        return 0
    expired = tx.run("orphans_trim", keep_rows=max(1, int(cap.max_rows * cap.low_water)),
                     keep_bytes=int(cap.max_bytes * cap.low_water))
    log.warning("parked callbacks over the cap (%d rows, %d bytes): expired the %d oldest",
                usage["n"], usage["bytes"], expired)
    return expired


def watch(store: Store, cap: OrphanCap, alerts: Alerts,
          last_look: datetime | None) -> datetime | None:
    """The janitor's look at the cap: the alert is raised when the cap expired an orphan
    since ``last_look`` (or within ``alert_quiet_s``), and cleared once parked callbacks are
    under the cap and it has been quiet that long. Returns this look's time (database clock),
    the next call's ``last_look``."""
    usage = store.one("orphans_usage")
    if usage is None:
        return last_look
    now, capped = usage["now"], usage["capped_at"]
    recent = capped is not None and (
        (last_look is not None and capped > last_look)
        or (now - capped).total_seconds() < cap.alert_quiet_s)
    if recent:
        alerts.raise_(ALERT_KEY, (
            f"callbacks for unknown jobs reached the cap ({cap.max_rows} rows, "
            f"{cap.max_bytes} bytes: TRT_ORPHAN_MAX_ROWS / TRT_ORPHAN_MAX_BYTES); the oldest "
            "are expired unclaimed. A flood, or KIE calling back for another deployment?"))
    elif not cap.over(usage["n"], usage["bytes"]):
        alerts.clear(ALERT_KEY)
    return now
