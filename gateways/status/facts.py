"""Every fact the operator sees, gathered once: the /status JSON, the dashboard and /metrics.

``collect(node)`` reads the in-memory snapshots (supervision tree, routers, the views the
gateway actors publish, alerts, KIE limiter, pool: none waits on an actor's mailbox) and, when
the database answers, the named ``status_*`` queries. It never raises for a database outage:
it first probes PostgreSQL on a short, separate connection (the pool would make every query
wait out its checkout timeout) and, when that fails, reports
``"database": "down: ..."`` with the database sections set to ``None`` and everything held in
memory still shown. ``ready(node)`` is the /readyz verdict from the same probe.

Blocking: both run on the status server's executor, never on its event loop.
"""

from __future__ import annotations

import importlib.metadata
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from trt_actors import (
    PARTITIONS,
    JobState,
    StoreError,
    model_settings,
    pending,
    price_list,
)

if TYPE_CHECKING:
    from gateways.node import Node

__all__ = ["FAILURES_SHOWN", "VERSION", "Probe", "collect", "probe", "ready"]

try:
    VERSION = importlib.metadata.version("trt-node")
except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
    VERSION = "0.1.0"

FAILURES_SHOWN = 20
"""How many recent failures /status lists (newest first)."""

POISON_SHOWN = 5
"""How many of the newest poison updates /status names."""

AUDIT_SHOWN = 20
"""Admin actions shown (``admin_audit``), the newest first."""

ORPHAN_KINDS = ("parked", "claimed", "expired")
IN_FLIGHT = tuple(s.value for s in JobState if not s.terminal)


@dataclass(frozen=True, slots=True)
class Probe:
    """One look at PostgreSQL on a fresh connection."""

    ok: bool
    """The server accepted a connection and answered."""
    error: str | None
    """Why not, in one line (no secrets: the driver's messages carry no password)."""
    pending: list[int] | None
    """Migrations this version ships that the database lacks (``None`` when down)."""


def probe(conninfo: str, timeout: int = 3) -> Probe:
    """Connect (at most ``timeout`` s), read the applied migrations, disconnect."""
    try:
        return Probe(True, None, pending(conninfo, connect_timeout=max(2, timeout)))
    except StoreError as exc:
        return Probe(False, str(exc), None)


def _leases(node: Node) -> dict[str, Any] | None:
    """Who holds what, node-wide (``None``: the database did not answer)."""
    try:
        rows = node.store.all("leases_view")
    except StoreError:
        return None
    parts = [r for r in rows if r["name"].startswith("part:")]
    leader = next((r for r in rows if r["name"] == "intake"), None)
    return {"partitions_leased": len(parts), "partitions": PARTITIONS,
            "intake_leader": leader["owner"] if leader else None,
            "singletons": {r["name"]: r["owner"] for r in rows if ":" not in r["name"]}}


def _checks(found: Probe, tree: dict[str, Any],
            leases: dict[str, Any] | None = None) -> tuple[bool, dict[str, Any]]:
    children = {c["id"]: c["state"] for c in tree.get("children", [])
                if c.get("restart") == "permanent"}
    checks = {
        "database": found.ok,
        "migrations_current": found.ok and found.pending == [],
        "pending_migrations": found.pending,
        "children": children,
        "leases": leases,
    }
    ok = bool(checks["migrations_current"]
              and all(state == "running" for state in children.values())
              and leases is not None and leases["partitions_leased"] == PARTITIONS
              and leases["intake_leader"] is not None)
    return ok, checks


def ready(node: Node) -> tuple[bool, dict[str, Any]]:
    """/readyz: database reachable, migrations current, every permanent child running, and
    node-wide: every partition and the intake held by a live worker."""
    found = probe(node.conninfo)
    return _checks(found, node.root.snapshot(), _leases(node) if found.ok else None)


def collect(node: Node) -> dict[str, Any]:
    """The /status document (see the README's "status fields" for each key)."""
    now = time.time()
    tree = node.root.snapshot()
    _share_budget(tree)
    found = probe(node.conninfo)
    is_ready, checks = _checks(found, tree, _leases(node) if found.ok else None)
    intake, poller, delivery, callbacks = (
        node.snapshot(n) for n in ("intake", "poller", "delivery", "callbacks"))
    out: dict[str, Any] = {
        "version": VERSION,
        "started_at": _iso(node.started_at),
        "uptime_s": round(now - node.started_at, 1),
        "ready": is_ready,
        "checks": checks,
        "database": "up" if found.ok else f"down: {found.error}",
        "supervision": tree,
        "actors": {"jobs": node.jobs.snapshot(), "chats": node.chats.snapshot()},
        "worker": node.leases.snapshot(),
        "workers": None,
        "jobs": None, "orphans": None, "depths": None, "tables": None, "poison_updates": None,
        "admin_audit": None,
        "intake": {**(intake or {}), "last_update_id": None, "last_update_age_s": None,
                     "lag_s": None, "lag_updates": None},
        "delivery": {**(delivery or {}), "outbox": None},
        "poller": poller,
        "callbacks": callbacks,
        "callback_abuse": None,
        "kie_rate_headroom": node.kie.rate_headroom(),
        "db_pool": node.store.stats(),
        "alerts": node.alerts.snapshot(),
        "failures": [],
        "prices": _prices(node, None),  # the last known until the database answers
    }
    failed_jobs: list[dict[str, Any]] = []
    if found.ok:
        try:
            failed_jobs = _read_database(node, out)
        except StoreError as exc:  # went down between the probe and the queries
            out["database"] = f"down: {exc}"
            out["ready"] = False
    out["failures"] = _failures(out, failed_jobs)
    return out


def _read_database(node: Node, out: dict[str, Any]) -> list[dict[str, Any]]:
    """Fill the database sections of ``out``; return the recently failed jobs."""
    with node.store.transaction() as tx:
        job_rows = tx.all("status_jobs")
        depths = tx.one("status_depths") or {}
        orphan_rows = tx.all("orphans_stats")
        telegram = tx.one("status_telegram") or {}
        outbox = tx.one("status_outbox") or {}
        abuse = tx.one("status_callback_abuse") or {}
        failed = tx.all("status_failed_jobs", limit=FAILURES_SHOWN)
        tables = tx.all("status_tables")
        poison = tx.one("status_poison_updates", limit=POISON_SHOWN) or {}
        settings = model_settings.read(tx)
        audit = tx.all("audit_recent", limit=AUDIT_SHOWN)
        workers = tx.all("workers_view")
        leases = tx.all("leases_view")
    out["workers"] = _workers(workers, leases, node.leases.policy.ttl)
    out["prices"] = _prices(node, settings)
    by_state = {s.value: 0 for s in JobState}
    by_model: dict[str, dict[str, int]] = {}
    for row in job_rows:
        by_state[row["state"]] = by_state.get(row["state"], 0) + row["n"]
        model = by_model.setdefault(row["model_id"], {})
        model[row["state"]] = model.get(row["state"], 0) + row["n"]
    out["jobs"] = {
        "by_state": by_state,
        "by_model": dict(sorted(by_model.items())),
        "total": sum(by_state.values()),
        "in_flight": sum(by_state[s] for s in IN_FLIGHT),
        "oldest_in_flight_s": _round(depths.get("oldest_in_flight_s")),
    }
    orphans: dict[str, Any] = {k: {"count": 0, "oldest": None} for k in ORPHAN_KINDS}
    for row in orphan_rows:
        orphans[row["status"]] = {"count": row["n"], "oldest": row["oldest"].isoformat()}
    parked = next((r for r in orphan_rows if r["status"] == "parked"), None)
    orphans["oldest_parked_age_s"] = (
        _round((datetime.now(UTC) - parked["oldest"]).total_seconds()) if parked else None)
    out["orphans"] = orphans
    out["depths"] = {"callback_inbox": depths.get("callback_inbox", 0),
                     "telegram_inbox": depths.get("telegram_inbox", 0),
                     "outbox": depths.get("outbox", 0)}
    out["intake"].update(
        last_update_id=telegram.get("last_update_id"),
        last_update_age_s=_round(telegram.get("last_update_age_s")),
        lag_s=_round(telegram.get("oldest_unhandled_s") or 0.0),
        lag_updates=depths.get("telegram_inbox", 0))
    # Rows are the planner's estimate (≈; None until first analysed), bytes the size on disk
    # with indexes and TOAST: counting rows exactly would scan every table.
    out["tables"] = {r["name"]: {"rows": r["rows"], "bytes": r["bytes"]} for r in tables}
    # Updates that failed every attempt and were parked (runbook: README, "poison updates").
    out["poison_updates"] = {"count": poison.get("count", 0),
                             "newest": list(poison.get("newest") or [])}
    out["delivery"]["outbox"] = {"pending": outbox.get("pending", 0),
                                 "sending": outbox.get("sending", 0),
                                 "oldest_open_s": _round(outbox.get("oldest_open_s"))}
    out["callback_abuse"] = _callback_abuse(node, abuse, out["callbacks"])
    # What admins did in Telegram (/adjust, /ban, /refund, /newpromo ...), the newest first.
    out["admin_audit"] = [{"at": r["at"].isoformat(), "admin_id": r["admin_id"],
                           "action": r["action"], "target_user": r["target_user"],
                           "job_id": r["job_id"], "detail": r["detail"]} for r in audit]
    return failed


def _workers(workers: list[dict[str, Any]], leases: list[dict[str, Any]],
             ttl: float) -> list[dict[str, Any]]:
    """Every worker of every node on this database: heartbeat, leases, what it publishes."""
    held: dict[str, list[str]] = {}
    for row in leases:
        held.setdefault(row["owner"], []).append(row["name"])
    return [{"id": w["id"], "node": w["node"], "host": w["host"], "pid": w["pid"],
             "slot": w["slot"], "alive": w["heartbeat_age_s"] < ttl,
             "heartbeat_age_s": _round(w["heartbeat_age_s"]),
             "uptime_s": _round(w["uptime_s"]),
             "partitions": len([n for n in held.get(w["id"], []) if n.startswith("part:")]),
             "singletons": sorted(n for n in held.get(w["id"], []) if ":" not in n),
             **(w["info"] or {})} for w in workers]


def _prices(node: Node, settings: list[model_settings.ModelSetting] | None) -> dict[str, Any]:
    """The effective price list: the markup, then per model its price (``price_min`` and
    ``price_max`` when inputs change it), free, enabled and the operator's setting, if any.
    ``settings`` None: the database did not answer, the last list built is shown."""
    live = node.live_catalog
    catalog = live.latest() if settings is None else live.with_settings(settings)
    by_id = {s.model_id: s for s in settings or ()}
    models = []
    for entry in price_list(catalog):
        entry.pop("fields")
        said = by_id.get(entry["id"])
        entry["override"] = said.price if said else None
        entry["changed_by"] = said.changed_by if said else None
        entry["changed_at"] = said.changed_at.isoformat(timespec="seconds") if said else None
        models.append(entry)
    return {"credits_per_kie_credit": live.credits_per_kie_credit, "from_database":
            settings is not None, "enabled": sum(m["enabled"] for m in models),
            "disabled": sum(not m["enabled"] for m in models), "models": models}


def _callback_abuse(node: Node, row: dict[str, Any],
                    callbacks: dict[str, Any] | None) -> dict[str, Any]:
    """The callback abuse limits at work (README, "Callback answers")."""
    s = node.settings
    return {"rejected_records": row.get("rejected_records", 0),
            "parked": row.get("parked", 0), "max_rows": s.orphan_max_rows,
            "parked_bytes": row.get("parked_bytes", 0), "max_bytes": s.orphan_max_bytes,
            "expired_over_cap": row.get("expired_over_cap", 0),
            "inbox_bytes": row.get("inbox_bytes", 0),
            "sources_refused": (callbacks or {}).get("sources_refused", 0)}


def _failures(out: dict[str, Any], failed_jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last failures from every source, newest first (unknown times last)."""
    found: list[dict[str, Any]] = []

    def add(source: str, at: float | None, reason: str, **extra: Any) -> None:
        found.append({"source": source, "at": at, "time": _iso(at), "reason": reason, **extra})

    def walk(tree: dict[str, Any], path: str) -> None:
        for child in tree.get("children", []):
            name = f"{path}/{child['id']}"
            failure = child.get("last_failure")
            if failure:
                add(f"supervision {name}", _unix(failure.get("time")), failure["reason"])
            if "supervisor" in child:
                walk(child["supervisor"], name)

    walk(out["supervision"], out["supervision"].get("id", "root"))
    for kind, snap in out["actors"].items():
        last = snap.get("last_failure")
        if last:
            add(f"{kind[:-1]} actor", last.get("at"), last["reason"])
    if out["delivery"].get("last_error"):
        add("delivery", None, out["delivery"]["last_error"])
    for row in failed_jobs:
        reason = row["failure"] + (f": {row['detail']}" if row.get("detail") else "")
        add("job", row["at"], reason, job_id=row["id"], model=row["model_id"],
            cause=row["cause"])
    found.sort(key=lambda f: -(f["at"] or 0.0))
    return found[:FAILURES_SHOWN]


def _share_budget(tree: dict[str, Any]) -> None:
    """Restart intensity is a budget of the supervisor, shared by its children (Erlang):
    show it on each child too, so a reader of one row sees how much is left."""
    for child in tree.get("children", []):
        child["budget_left"] = tree.get("budget_left")
        if "supervisor" in child:
            _share_budget(child["supervisor"])


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _unix(iso: str | None) -> float | None:
    return None if not iso else datetime.fromisoformat(iso).timestamp()


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)
