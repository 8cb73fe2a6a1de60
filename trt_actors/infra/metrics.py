"""Prometheus metrics of the node, on a dedicated registry (never prometheus_client's global).

Two kinds:

* **Live instruments**, incremented where the thing happens: ``JOB_TRANSITIONS`` (every
  guarded move that found its row, by target state and cause), ``CALLBACK_SECONDS`` (one KIE
  callback from first byte to stored and answered) and ``STATUS_QUERY_SECONDS`` (one
  recordInfo query, including the wait for the local rate limiter).
* **Scrape-time facts** (``NodeCollector``): read from the status facts when /metrics is
  scraped — jobs by state, queue depths, orphans, supervisor restarts, router, poller,
  delivery and callback counters. Reading them at scrape time keeps the actors free of metric
  code and makes the numbers agree with /status by construction.

Labels are bounded sets only (states, causes, child ids, catalog model ids, queue names):
never a job, chat or task id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["CALLBACK_SECONDS", "JOB_TRANSITIONS", "REGISTRY", "STATUS_QUERY_SECONDS",
           "NodeCollector", "node_registry"]

REGISTRY = CollectorRegistry(auto_describe=True)
"""The live instruments of this process."""

JOB_TRANSITIONS = Counter(
    "trt_job_transitions", "Job state moves made, by target state and cause.",
    ["to_state", "cause"], registry=REGISTRY)
CALLBACK_SECONDS = Histogram(
    "trt_callback_handling_seconds",
    "KIE callback handling: received, authenticated, stored and answered.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY)
STATUS_QUERY_SECONDS = Histogram(
    "trt_kie_status_query_seconds",
    "One KIE recordInfo query by the poller, including any local rate-limit wait.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY)

Facts = Mapping[str, Any]


def _num(value: Any) -> float:
    """Missing facts (a section absent while the database is down) read as 0."""
    return float(value) if isinstance(value, int | float) else 0.0


class _Families:
    """Small builder so each fact is one line below."""

    def __init__(self) -> None:
        self.out: list[Metric] = []

    def gauge(self, name: str, doc: str, value: Any = None, labels: Mapping[str, Any] | None = None,
              label: str = "") -> None:
        if labels is None:
            self.out.append(GaugeMetricFamily(name, doc, value=_num(value)))
            return
        family = GaugeMetricFamily(name, doc, labels=[label])
        for key, v in labels.items():
            family.add_metric([str(key)], _num(v))
        self.out.append(family)

    def counter(self, name: str, doc: str, value: Any = None,
                labels: Mapping[str, Any] | None = None, label: str = "") -> None:
        if labels is None:
            self.out.append(CounterMetricFamily(name, doc, value=_num(value)))
            return
        family = CounterMetricFamily(name, doc, labels=[label])
        for key, v in labels.items():
            family.add_metric([str(key)], _num(v))
        self.out.append(family)


class NodeCollector(Collector):
    """Turns the status facts (``gateways.status.facts.collect``) into metric families."""

    def __init__(self, facts: Callable[[], Facts]) -> None:
        self.facts = facts

    def collect(self) -> Iterator[Metric]:
        f = self.facts()
        m = _Families()
        m.out.append(InfoMetricFamily("trt_build", "Node version.", value={
            "version": str(f.get("version", ""))}))
        m.gauge("trt_uptime_seconds", "Seconds since the node started.", f.get("uptime_s"))
        m.gauge("trt_ready", "1 when /readyz would answer 200.", int(bool(f.get("ready"))))
        m.gauge("trt_database_up", "1 when PostgreSQL answers.", int(f.get("database") == "up"))
        self._jobs(m, f)
        self._supervision(m, f.get("supervision") or {})
        self._gateways(m, f)
        pool = {k: v for k, v in (f.get("db_pool") or {}).items() if isinstance(v, int | float)}
        m.gauge("trt_db_pool", "psycopg pool statistics, by name.", labels=pool, label="stat")
        headroom = {k: v.get("available") for k, v in (f.get("kie_rate_headroom") or {}).items()}
        m.gauge("trt_kie_rate_headroom", "KIE requests the local limiter allows right now.",
                labels=headroom, label="limit")
        m.gauge("trt_alerts_active", "Operator alerts raised and not cleared.",
                len(f.get("alerts") or []))
        yield from m.out

    @staticmethod
    def _jobs(m: _Families, f: Facts) -> None:
        jobs = f.get("jobs") or {}
        m.gauge("trt_jobs", "Jobs in the database, by state.", labels=jobs.get("by_state") or {},
                label="state")
        family = GaugeMetricFamily("trt_model_jobs", "Jobs in the database, by model and state.",
                                   labels=["model", "state"])
        for model, states in (jobs.get("by_model") or {}).items():
            for state, n in states.items():
                family.add_metric([model, state], _num(n))
        m.out.append(family)
        m.gauge("trt_oldest_in_flight_job_seconds", "Age of the oldest job not yet ended.",
                jobs.get("oldest_in_flight_s"))
        orphans = f.get("orphans") or {}
        m.gauge("trt_orphan_callbacks", "Callbacks that matched no job, by status.",
                labels={k: v.get("count") for k, v in orphans.items() if isinstance(v, dict)},
                label="status")
        m.gauge("trt_oldest_parked_orphan_seconds", "Age of the oldest parked callback.",
                orphans.get("oldest_parked_age_s"))
        m.gauge("trt_queue_depth", "Rows waiting in the node's durable queues.",
                labels=f.get("depths") or {}, label="queue")

    @staticmethod
    def _supervision(m: _Families, tree: Facts) -> None:
        restarts: dict[str, Any] = {}
        running: dict[str, Any] = {}
        budgets: dict[str, Any] = {}

        def walk(node: Facts, path: str) -> None:
            budgets[path] = node.get("budget_left")
            for child in node.get("children", []):
                name = f"{path}/{child['id']}"
                restarts[name] = child.get("restarts")
                running[name] = int(child.get("state") == "running")
                if "supervisor" in child:
                    walk(child["supervisor"], name)

        if tree:
            walk(tree, str(tree.get("id", "root")))
        m.counter("trt_supervisor_child_restarts", "Restarts of each supervised child.",
                  labels=restarts, label="child")
        m.gauge("trt_supervisor_child_running", "1 when the child is running.",
                labels=running, label="child")
        m.gauge("trt_supervisor_budget_left", "Restarts left in the current intensity period.",
                labels=budgets, label="supervisor")

    @staticmethod
    def _gateways(m: _Families, f: Facts) -> None:
        actors = f.get("actors") or {}
        for metric, key, doc in (
                ("trt_actors_active", "active", "Virtual actors alive now."),
                ("trt_actors_started", "started", "Virtual actors started."),
                ("trt_actors_passivated", "passivated", "Virtual actors stopped when idle."),
                ("trt_actor_failures", "failures", "Virtual actors that failed.")):
            values = {kind: snap.get(key) for kind, snap in actors.items()}
            (m.gauge if key == "active" else m.counter)(metric, doc, labels=values, label="kind")
        poll = f.get("poller") or {}
        m.counter("trt_kie_status_polls", "KIE status queries made.", poll.get("polls"))
        m.counter("trt_kie_status_poll_errors", "KIE status queries failed.", poll.get("errors"))
        m.gauge("trt_kie_status_poll_rate", "Status queries per second (last 10 s).",
                poll.get("rate_per_s"))
        m.gauge("trt_kie_status_poll_limit", "Status queries allowed per second.",
                poll.get("limit_per_s"))
        d = f.get("delivery") or {}
        m.counter("trt_telegram_sends", "Messages sent to Telegram.", d.get("sent"))
        m.counter("trt_telegram_too_many_requests", "429 answers from Telegram.",
                  d.get("too_many_requests"))
        m.counter("trt_telegram_send_failures", "Sends given up.", d.get("failures"))
        m.counter("trt_telegram_send_retries", "Sends retried.", d.get("retries"))
        m.gauge("trt_telegram_send_rate", "Sends per second (last 10 s).", d.get("rate_per_s"))
        t = f.get("intake") or {}
        m.counter("trt_telegram_updates_received", "Updates stored by intake.", t.get("received"))
        m.gauge("trt_telegram_offset", "Next getUpdates offset.", t.get("offset"))
        m.gauge("trt_telegram_lag_seconds", "Age of the oldest unhandled update.", t.get("lag_s"))
        m.gauge("trt_telegram_last_poll_age_seconds", "Seconds since getUpdates last answered.",
                t.get("last_poll_age_s"))
        cb = {k: v for k, v in (f.get("callbacks") or {}).items()
              if k != "last_latency_ms" and not k.startswith("source")}
        m.counter("trt_callbacks", "KIE callbacks, by outcome.", labels=cb, label="outcome")
        NodeCollector._abuse(m, f)

    @staticmethod
    def _abuse(m: _Families, f: Facts) -> None:
        """The callback abuse limits (README, "Callback answers")."""
        a = f.get("callback_abuse") or {}
        m.gauge("trt_callback_rejected_records", "Rejected (forged) callbacks on record.",
                a.get("rejected_records"))
        m.gauge("trt_callback_sources_refused", "Source addresses refused (429) right now.",
                a.get("sources_refused"))
        m.gauge("trt_callback_inbox_bytes", "Bytes the callback inbox takes on disk.",
                a.get("inbox_bytes"))
        m.gauge("trt_orphan_callback_bytes", "Bytes of parked orphan callbacks.",
                a.get("parked_bytes"))
        m.gauge("trt_orphan_callback_cap", "The orphan cap, by unit (rows, bytes).",
                labels={"rows": a.get("max_rows"), "bytes": a.get("max_bytes")}, label="unit")
        m.counter("trt_orphan_callbacks_expired_over_cap",
                  "Parked orphan callbacks expired because the cap was reached.",
                  a.get("expired_over_cap"))


class _Live(Collector):
    """Forwards the live instruments into a node's scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def node_registry(facts: Callable[[], Facts]) -> CollectorRegistry:
    """A registry for one node's /metrics: the live instruments plus its scrape-time facts
    (one per status server, so a restarted server or a second node in tests never registers
    a name twice)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Live())
    registry.register(NodeCollector(facts))
    return registry
