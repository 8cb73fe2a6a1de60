"""Every model of the packaged catalog runs in the KIE emulator the way it would run at KIE.

Each model's example goes through the product's own validator and ``KieClient`` to the
emulator, all models at once; each task's callback is parsed by the product's parser and its
status polled by the client. A model whose input shape the emulator refuses, or whose result
the parser cannot read, fails here: so ``trt-node e2e --models <id>`` can run it in the
sandbox.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from gateways.kie.callbacks import parse_callback
from gateways.kie.client import KieClient
from sandbox.kie_emulator import KieEmulator
from tests.support.follow_ups import follow_up_example
from tests.support.waiting import wait_until
from trt_actors.catalog.model import Catalog, ModelSpec, load_catalog
from trt_actors.catalog.validation import validate_input
from trt_actors.messages import TaskState

KEY = "catalog-test-key-0123"
CATALOG: Catalog = load_catalog()


class Receiver(ThreadingHTTPServer):
    """A callback endpoint on port 0 recording every POST; its listen backlog takes the
    burst of every model's callback at once."""

    request_queue_size = 256
    daemon_threads = True

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with server.lock:
                    server.calls.append({"path": self.path, "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def emu() -> Iterator[KieEmulator]:
    with KieEmulator(KEY, seed=3, duration_s=0.3, rate_limits=False) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def runs(emu: KieEmulator, receiver: Receiver) -> dict[str, dict[str, Any]]:
    """Model id → what happened to its example: the input sent, the task, its callbacks and
    a status poll after the final callback."""
    client = KieClient(emu.url, KEY, create_limit=(1000, 1.0), status_limit=(1000, 1.0))

    def run(model: ModelSpec) -> tuple[str, dict[str, Any]]:
        sent = validate_input(model, follow_up_example(client, CATALOG, model,
                                                       f"{receiver.url}/cb/source"))
        task_id = client.create_task(model.family.value, model.id, sent,
                                     f"{receiver.url}/cb/{model.id}")
        return model.id, {"model": model, "sent": sent, "task_id": task_id}

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            started = dict(pool.map(run, CATALOG.models.values()))

        def finals() -> dict[str, list[Any]] | None:
            seen: dict[str, list[Any]] = {}
            with receiver.lock:
                calls = list(receiver.calls)
            for call in calls:
                parsed = parse_callback(call["body"])
                if parsed.report is not None and parsed.report.state.final:
                    seen.setdefault(str(parsed.task_id), []).append((call, parsed))
            done = all(r["task_id"] in seen for r in started.values())
            return seen if done else None

        seen = wait_until(finals, 30.0, "a final callback for every model's task")
        for entry in started.values():
            entry["callbacks"] = seen[entry["task_id"]]
            entry["status"] = client.get_task(entry["model"].family.value, entry["task_id"])
        return started
    finally:
        client.close()


@pytest.mark.parametrize("model_id", list(CATALOG.models))
def test_the_example_runs_to_a_result(runs: dict[str, dict[str, Any]], emu: KieEmulator,
                                      model_id: str) -> None:
    run = runs[model_id]
    model: ModelSpec = run["model"]
    (call, parsed), *_ = run["callbacks"]
    assert call["path"] == f"/cb/{model_id}"
    assert parsed.report.state is TaskState.SUCCESS, parsed
    assert run["status"].state is TaskState.SUCCESS
    if model.family == "market":  # the other families name the model their own way
        task = next(t for t in emu.stats()["tasks"] if t["task_id"] == run["task_id"])
        assert task["model"] == model_id
    if model.result_kind == "text":
        # KIE answers text as resultJson {"resultObject": {...}}, no URLs
        data = json.loads(call["body"])["data"]
        text = json.loads(data["resultJson"])["resultObject"]["text"]
        assert parsed.report.result_text == run["status"].result_text == text
        assert parsed.report.result_urls == ()
        return
    urls = parsed.report.result_urls
    assert urls and urls == run["status"].result_urls
    media = requests.get(urls[0], timeout=5)
    expected = {"image": "image/", "video": "video/", "audio": "audio/"}[model.result_kind]
    assert media.ok and media.headers["Content-Type"].startswith(expected), (model_id, media)


def test_every_billed_input_reaches_kie_as_charged(runs: dict[str, dict[str, Any]]) -> None:
    """What was priced is what KIE is asked for: each field a price rule (or a per-character
    or per-size rule) depends on is in the request, with the value the price was taken for."""
    for model_id, run in runs.items():
        model: ModelSpec = run["model"]
        billed = {name for rule in model.price_by for name in rule.when}
        billed |= {model.per_chars.field} if model.per_chars else set()
        billed |= {model.output_size.factor_field} if model.output_size else set()
        for name in billed:
            assert name in run["sent"], (model_id, name)
        assert model.price_for(run["sent"]) == model.price_for(model.example), model_id
