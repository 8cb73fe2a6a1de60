"""The status server of a real in-process node: /status, /metrics, /readyz, /healthz, auth.

The node runs against the KIE and Telegram emulators and a real PostgreSQL holding a known
state (``status_state.seed``); every number the operator reads must be that state's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from gateways.http_thread import HttpThread
from gateways.node import Node
from gateways.status import sandbox_routes as status_sandbox
from gateways.status.app import make_app
from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.support import status_state
from tests.support.waiting import wait_until
from trt_actors.catalog.model import load_catalog
from trt_actors.infra.embedded_pg import EmbeddedPostgres
from trt_actors.infra.migrations import migrate
from trt_actors.infra.settings import load_settings
from trt_actors.infra.store import Store
from trt_actors.messages import GetUrl, IntakeLoopFailed

TOKEN = "424242:status-test-telegram-token"
KIE_KEY = "status-test-kie-key-123456"
PERMANENT = {"delivery", "callbacks", "poller", "janitor", "broadcaster", "alerts", "intake",
             "status"}

Emulators = tuple[KieEmulator, TelegramEmulator]


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    with KieEmulator(KIE_KEY, seed=5) as kie, TelegramEmulator(TOKEN, seed=5) as telegram:
        yield kie, telegram


def start_node(conninfo: str, emulators: Emulators, **env: str) -> Node:
    kie, telegram = emulators
    settings = load_settings(**{
        "TRT_TELEGRAM_TOKEN": TOKEN, "TRT_TELEGRAM_API_URL": telegram.url,
        "TRT_KIE_API_KEY": KIE_KEY, "TRT_KIE_API_URL": kie.url,
        "TRT_CALLBACK_LISTEN": "127.0.0.1:0", "TRT_STATUS_LISTEN": "127.0.0.1:0", **env})
    return Node(settings, conninfo, load_catalog(), on_give_up=lambda reason: None).start()


def status_url(node: Node) -> str:
    ref = node.root.child_ref("status")
    assert ref is not None
    return str(ref.ask(GetUrl(), timeout=5))


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=10)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by (name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_status_and_metrics_are_true_to_the_database(
        database: str, store: Store, emulators: Emulators) -> None:
    known = status_state.seed(store)
    node = start_node(database, emulators)
    try:
        base = status_url(node)
        assert wait_until(lambda: get(f"{base}/readyz").status_code == 200, 10, "/readyz 200")
        assert get(f"{base}/healthz").json() == {"ok": True}

        status = get(f"{base}/status").json()
        assert status["database"] == "up" and status["ready"] is True
        assert status["version"] and status["uptime_s"] >= 0
        children = {c["id"]: c for c in status["supervision"]["children"]}
        assert set(children) == PERMANENT
        for child in children.values():
            assert child["state"] == "running" and child["restarts"] == 0
            assert child["last_failure"] is None and child["next_restart"] is None
            assert child["budget_left"] == status["supervision"]["intensity"]
        assert status["jobs"]["by_state"] == known.by_state
        assert status["jobs"]["by_model"] == known.by_model
        assert status["jobs"]["in_flight"] == 2 and status["jobs"]["total"] == 3
        assert status["jobs"]["oldest_in_flight_s"] >= 0
        assert status["orphans"]["parked"]["count"] == known.parked_orphans
        assert status["orphans"]["claimed"]["count"] == status["orphans"]["expired"]["count"] == 0
        assert status["orphans"]["oldest_parked_age_s"] >= 0
        assert status["depths"] == {"callback_inbox": 0, "telegram_inbox": 0, "outbox": 0}
        # Each table's size; rows are PostgreSQL's estimate (≈), exact once a small table
        # has been analysed.
        with store.transaction() as tx:
            tx.raw("ANALYZE jobs")
        tables = get(f"{base}/status").json()["tables"]
        assert {"jobs", "ledger", "users", "job_events", "telegram_updates", "outbox",
                "callback_inbox", "job_counts"} <= set(tables)
        assert tables["jobs"]["rows"] == 3 and tables["jobs"]["bytes"] > 0
        assert all(t["bytes"] >= 0 for t in tables.values())
        assert 'data-fact="table.jobs.rows">≈ 3</td>' in get(f"{base}/").text
        assert status["delivery"]["outbox"]["pending"] == 0
        assert status["poller"]["limit_per_s"] == 10
        assert status["kie_rate_headroom"]["status"]["limit"] == 10
        assert "offset" in status["intake"] and status["intake"]["lag_s"] == 0
        assert status["db_pool"]["pool_size"] >= 1
        assert status["actors"]["jobs"]["active"] == 0 and status["alerts"] == []
        job_failures = [f for f in status["failures"] if f["source"] == "job"]
        assert job_failures == [{
            "source": "job", "at": job_failures[0]["at"], "time": job_failures[0]["time"],
            "reason": f"kie_failed: {status_state.FAILURE_DETAIL}",
            "job_id": known.failed_job_id, "model": "z-image", "cause": "operator"}]

        response = get(f"{base}/metrics")
        assert response.headers["Content-Type"].startswith("text/plain")
        metrics = samples(response.text)
        for state, n in known.by_state.items():
            assert metrics[("trt_jobs", (("state", state),))] == n
        assert metrics[("trt_model_jobs", (("model", "z-image"), ("state", "failed")))] == 1
        assert metrics[("trt_orphan_callbacks", (("status", "parked"),))] == 1
        assert metrics[("trt_queue_depth", (("queue", "outbox"),))] == 0
        assert metrics[("trt_supervisor_child_restarts_total", (("child", "node/poller"),))] == 0
        assert metrics[("trt_supervisor_child_running", (("child", "node/intake"),))] == 1
        assert metrics[("trt_ready", ())] == 1 and metrics[("trt_database_up", ())] == 1
        # The live counter of the seed's move to failed (the process-wide registry counts
        # every test's moves, so at least one).
        assert metrics[("trt_job_transitions_total",
                        (("cause", "operator"), ("to_state", "failed")))] >= 1
        assert ("trt_callback_handling_seconds_count", ()) in metrics
        assert ("trt_kie_status_query_seconds_count", ()) in metrics
    finally:
        node.stop()


def test_a_child_failure_and_an_alert_show_on_status_metrics_and_dashboard(
        database: str, emulators: Emulators) -> None:
    node = start_node(database, emulators)
    try:
        base = status_url(node)
        # The intake's own failure path: its loop thread died and tells the actor so.
        ref = node.root.child_ref("intake")
        assert ref is not None
        ref.tell(IntakeLoopFailed())

        def restarted() -> dict[str, Any] | None:
            facts = get(f"{base}/status").json()
            child = next(c for c in facts["supervision"]["children"] if c["id"] == "intake")
            return facts if child["restarts"] == 1 and child["state"] == "running" else None

        facts = wait_until(restarted, 10, "the intake restarted by its supervisor")
        intake_row = next(c for c in facts["supervision"]["children"] if c["id"] == "intake")
        assert intake_row["last_failure"]["reason"] == "RuntimeError: telegram intake loop died"
        assert intake_row["budget_left"] == facts["supervision"]["intensity"] - 1
        assert any(f["source"] == "supervision node/intake" and f["time"]
                   for f in facts["failures"])
        metrics = samples(get(f"{base}/metrics").text)
        assert metrics[("trt_supervisor_child_restarts_total", (("child", "node/intake"),))] == 1

        node.alerts.raise_("kie_account", "KIE refused the key <script>alert(1)</script>")
        assert get(f"{base}/status").json()["alerts"][0]["key"] == "kie_account"
        page = get(f"{base}/").text
        assert "KIE refused the key &lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>" not in page
        assert "RuntimeError: telegram intake loop died" in page
        assert metrics[("trt_alerts_active", ())] == 0  # scraped before the alert
        assert samples(get(f"{base}/metrics").text)[("trt_alerts_active", ())] == 1
    finally:
        node.stop()


def test_a_status_token_guards_every_route_but_healthz(
        database: str, emulators: Emulators) -> None:
    secret = "status-secret-token-0123456789"
    node = start_node(database, emulators, TRT_STATUS_TOKEN=secret)
    try:
        base = status_url(node)
        assert get(f"{base}/healthz").status_code == 200  # Docker's HEALTHCHECK has no token
        for path in ("/", "/status", "/metrics", "/readyz"):
            refused = get(f"{base}{path}")
            assert refused.status_code == 401, path
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert secret not in refused.text
            assert get(f"{base}{path}", Authorization="Bearer wrong").status_code == 401, path
        bearer = {"Authorization": f"Bearer {secret}"}
        assert wait_until(lambda: get(f"{base}/readyz", **bearer).status_code == 200, 10, "ready")
        assert get(f"{base}/status", **bearer).json()["database"] == "up"
        assert "trt_jobs" in get(f"{base}/metrics", **bearer).text
        assert "<title>TRT node status</title>" in get(f"{base}/", **bearer).text
        # The hook the sandbox mounts its routes through: same args, same token rule.
        executor = ThreadPoolExecutor(1)
        extra = HttpThread("extra", make_app(node, secret, executor, status_sandbox.routes),
                           "127.0.0.1", 0).start()
        try:
            assert get(f"{extra.url}/sandbox/balance/7").status_code == 401
            assert get(f"{extra.url}/sandbox/balance/7", **bearer).json()["known"] is False
            assert get(f"{extra.url}/healthz").status_code == 200
        finally:
            extra.stop()
            executor.shutdown()
    finally:
        node.stop()


def test_readyz_flips_while_postgresql_is_down_and_status_still_answers(
        tmp_path: Path, emulators: Emulators) -> None:
    # A PostgreSQL of this test's own: the session's server is shared and must stay up.
    pg = EmbeddedPostgres(tmp_path / "pg")
    conninfo = pg.start()
    node: Node | None = None
    try:
        migrate(conninfo)
        node = start_node(conninfo, emulators)
        base = status_url(node)
        assert wait_until(lambda: get(f"{base}/readyz").status_code == 200, 10, "/readyz 200")

        pg.stop()
        answers: list[requests.Response] = []

        def not_ready() -> bool:
            answers.append(get(f"{base}/readyz"))
            return answers[-1].status_code == 503

        wait_until(not_ready, 10, "/readyz 503 with the database stopped")
        assert answers[-1].json()["checks"]["database"] is False
        started = time.monotonic()
        status = get(f"{base}/status")
        assert status.status_code == 200 and time.monotonic() - started < 5
        facts = status.json()
        assert facts["database"].startswith("down: ") and facts["ready"] is False
        assert facts["jobs"] is None and facts["orphans"] is None
        assert {c["id"] for c in facts["supervision"]["children"]} == PERMANENT
        assert facts["db_pool"] and facts["kie_rate_headroom"]
        metrics = samples(get(f"{base}/metrics").text)
        assert metrics[("trt_database_up", ())] == 0 and metrics[("trt_ready", ())] == 0
        assert "database down" in get(f"{base}/").text

        pg.restart()
        assert wait_until(lambda: get(f"{base}/readyz").status_code == 200, 30,
                        "/readyz 200 after PostgreSQL came back")
        assert get(f"{base}/status").json()["database"] == "up"
    finally:
        if node is not None:
            pg.restart()  # no-op when running; the node's stop needs its database
            node.stop()
        pg.stop()
