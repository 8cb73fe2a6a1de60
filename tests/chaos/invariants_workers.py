"""The invariants of a node of several worker processes (issue 16), checked after a chaos run
next to those of :mod:`tests.chaos.invariants` (which calls ``check_workers``):

9. never two getUpdates at once: the Telegram emulator counted no getUpdates of the bot that
   came while another was in flight (a standby polls only once the leader's poll has ended;
   a killed leader's poll ends with its connection);
10. no write under a stale epoch: every job event that names a lease epoch names one a
    partition lease (``part:N``) had, written while it held it — at or after the epoch's
    ``acquired_at`` (1 ms of clock slack) and, when the epoch ended (released or taken over),
    at or before its ``ended_at``. With several workers at least one event names an epoch (or
    the check saw nothing);
11. the chaos happened as ordered: with several workers the kills hit a worker and the intake
    leader (either, when the profile kills once), and a killed parent's workers, and a stopped
    node's, did not outlive it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.chaos.harness import Outcome

SLACK = timedelta(milliseconds=1)
"""A lease epoch's ``acquired_at`` and its first write may come from two clocks' reads."""
EXAMPLES = 5
"""Violations of one kind named one by one; the rest are counted."""


@dataclass
class WorkersReport:
    """What the worker checks found: counts worth printing and violations in words."""

    poll_overlaps: int = 0
    kills: dict[str, int] = field(default_factory=dict)
    max_takeover_s: float | None = None
    max_restart_s: float | None = None
    fenced_events: int = 0
    violations: list[str] = field(default_factory=list)


def check_workers(out: Outcome) -> WorkersReport:
    w = WorkersReport(poll_overlaps=out.poll_overlaps)
    if out.poll_overlaps:
        w.violations.append(f"{out.poll_overlaps} getUpdates came while another was in flight: "
                            "two pollers of one bot at once")
    w.kills = dict(Counter(k["kind"] for k in out.kill_log))
    takeovers = [k["takeover_s"] for k in out.kill_log if k.get("takeover_s") is not None]
    restarts = [k["restart_s"] for k in out.kill_log if k.get("restart_s") is not None]
    w.max_takeover_s = max(takeovers, default=None)
    w.max_restart_s = max(restarts, default=None)
    workers = out.profile.workers
    w.violations += kill_coverage(w.kills, out.profile.kills, workers)
    w.violations += [f"the workers {k['orphans']} outlived their killed parent {k['pid']}"
                     for k in out.kill_log if k.get("orphans")]
    if out.orphans:
        w.violations.append(f"the workers {out.orphans} outlived the node's stop")
    if not _has_leases(out):
        if workers > 1:
            w.violations.append("no lease_history table: the node has no fenced leases")
        return w
    events = out.query("SELECT id, job_id, epoch, at FROM job_events WHERE epoch IS NOT NULL")
    history = out.query("SELECT epoch, name, owner, acquired_at, ended_at FROM lease_history")
    w.fenced_events = len(events)
    w.violations += stale_epoch_writes(events, history)
    if workers > 1 and not events:
        w.violations.append("no job event names a lease epoch: the stale-epoch check saw nothing")
    return w


def _has_leases(out: Outcome) -> bool:
    """The database has the leases of migration 0016 (a node of one process may not)."""
    return bool(out.query(
        "SELECT to_regclass('lease_history') IS NOT NULL AND EXISTS (SELECT 1 FROM "
        "information_schema.columns WHERE table_schema = current_schema() AND "
        "table_name = 'job_events' AND column_name = 'epoch') AS ok")[0]["ok"])


def kill_coverage(kills: dict[str, int], ordered: int, workers: int) -> list[str]:
    """With several workers the kills hit a worker and the intake leader (one kill: either)."""
    if workers <= 1 or ordered == 0:
        return []
    worker, intake = kills.get("worker", 0), kills.get("intake", 0)
    if ordered == 1:
        return [] if worker + intake else [f"the one kill hit neither a worker nor the intake "
                                           f"leader: {kills}"]
    missing = [name for name, n in (("a worker", worker), ("the intake leader", intake)) if not n]
    return [f"{ordered} kills never hit {' nor '.join(missing)}: {kills}"] if missing else []


def stale_epoch_writes(events: list[dict[str, Any]],
                       history: list[dict[str, Any]]) -> list[str]:
    """Job events (``id``, ``job_id``, ``epoch``, ``at``) written under an epoch that was not
    a partition lease's, or outside the time its holder held it (``lease_history`` rows:
    ``epoch``, ``name``, ``owner``, ``acquired_at``, ``ended_at``)."""
    epochs = {int(h["epoch"]): h for h in history}
    found: dict[str, list[str]] = {}
    for event in events:
        lease = epochs.get(int(event["epoch"]))
        what = f"job {event['job_id']} event {event['id']} (epoch {event['epoch']})"
        at: datetime = event["at"]
        if lease is None:
            found.setdefault("unknown", []).append(f"{what}: no lease ever had that epoch")
        elif not str(lease["name"]).startswith("part:"):
            found.setdefault("not a partition", []).append(
                f"{what}: the epoch is of the {lease['name']!r} lease, not a partition's")
        elif at < lease["acquired_at"] - SLACK:
            found.setdefault("before", []).append(
                f"{what}: written at {at.isoformat()}, before {lease['owner']} acquired "
                f"{lease['name']} at {lease['acquired_at'].isoformat()}")
        elif lease["ended_at"] is not None and at > lease["ended_at"]:
            found.setdefault("stale", []).append(
                f"{what}: written at {at.isoformat()}, after {lease['owner']}'s hold of "
                f"{lease['name']} ended at {lease['ended_at'].isoformat()}")
    out = []
    for examples in found.values():
        out += examples[:EXAMPLES]
        if len(examples) > EXAMPLES:
            out.append(f"... and {len(examples) - EXAMPLES} more like the last")
    return out
