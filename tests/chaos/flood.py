"""A bounded flood of abusive callbacks at the node's gateway, while users order.

Two senders, both on loopback and neither the KIE emulator (127.0.0.1): a *stranger*
(127.0.0.3) sends callbacks whose tokens name no job, each 24 KB (parked: three times the
orphan byte cap in all), and a *forger* (127.0.0.2) sends callbacks with wrong secrets for
real jobs, each 64 KB (403, then 429 once over the limit). Bounded in count (``count``
orphans, ``count // 2`` forgeries) and time (``CONCURRENCY`` at a time, 10 s timeouts). The
parked callbacks are sampled while it runs, so the invariant can say they stayed under the cap
*during* the flood, not only after it.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import requests

from tests.support.kie_harness import SourceAddressAdapter
from tests.support.waiting import wait_until

FORGER, STRANGER = "127.0.0.2", "127.0.0.3"
ORPHAN_MAX_ROWS, ORPHAN_MAX_BYTES, FORGED_LIMIT = 40, 1 << 20, 20
ENV = {"TRT_ORPHAN_MAX_ROWS": str(ORPHAN_MAX_ROWS),
       "TRT_ORPHAN_MAX_BYTES": str(ORPHAN_MAX_BYTES),
       "TRT_CALLBACK_FORGED_LIMIT": str(FORGED_LIMIT)}
"""The node's settings for a flooded run: a small cap, so the flood goes well past it."""
ORPHAN_SIZE, FORGED_SIZE = 24 * 1024, 64 * 1024
CONCURRENCY = 4
FIRST_UNKNOWN_JOB = 900_000_000
"""Job ids the stranger's tokens name: no run gets near them."""
_PARKED = (b"SELECT count(*), COALESCE(sum(octet_length(body)), 0) FROM callback_inbox "
           b"WHERE status = 'parked'")


@dataclass
class FloodResult:
    """What the flood sent and saw."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    """One per request, in send order: kind (``orphan`` | ``forged``), status (None: no
    answer)."""
    peak_rows: int = 0
    peak_bytes: int = 0
    """The most parked callbacks (rows, body bytes) any sample saw."""
    seconds: float = 0.0


def _body(n: int, size: int, host: str) -> bytes:
    doc: dict[str, Any] = {"code": 200, "msg": "success", "data": {
        "taskId": f"flood-task-{n}", "state": "success",
        "resultJson": json.dumps({"resultUrls": [f"https://{host}/flood-{n}.png"]})}}
    doc["pad"] = "x" * max(0, size - len(json.dumps(doc)) - 10)
    return json.dumps(doc).encode()


class Flood:
    """``start()`` it, drive the users, then ``join()`` for the result."""

    def __init__(self, callback_port: int, database: str, count: int, forged_host: str,
                 seed: int) -> None:
        self.base = f"http://127.0.0.1:{callback_port}/kie/callback"
        self.database, self.count, self.host = database, count, forged_host
        self.rng = random.Random(seed)
        self.result = FloodResult()
        self._thread = threading.Thread(target=self._run, name="chaos-flood", daemon=True)

    def start(self) -> Flood:
        self._thread.start()
        return self

    def join(self, timeout: float = 120.0) -> FloodResult:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the callback flood took over {timeout:.0f} s"
        return self.result

    def _run(self) -> None:
        started = time.monotonic()
        with psycopg.connect(self.database, autocommit=True) as conn:
            jobs = wait_until(lambda: [r[0] for r in conn.execute(
                b"SELECT id FROM jobs ORDER BY id LIMIT 8").fetchall()], 90, "a job to forge for")
            requests_ = self._requests(jobs)
            with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="chaos-flood") as pool:
                futures = [pool.submit(self._send, *r) for r in requests_]
                pause = threading.Event()  # never set: the pause between two samples
                while True:
                    done = all(f.done() for f in futures)
                    self._sample(conn)  # one more after the last answer
                    if done:
                        break
                    pause.wait(0.05)
            self.result.sent = [{"kind": r[0], "status": f.result()}
                                for r, f in zip(requests_, futures, strict=True)]
        self.result.seconds = time.monotonic() - started

    def _requests(self, jobs: list[int]) -> list[tuple[str, str, str, bytes]]:
        """(kind, source, path, body), orphans and forgeries interleaved."""
        out: list[tuple[str, str, str, bytes]] = []
        for n in range(self.count):
            secret = "".join(self.rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ", k=32))
            out.append(("orphan", STRANGER, f"/{FIRST_UNKNOWN_JOB + n}.{secret}",
                        _body(n, ORPHAN_SIZE, self.host)))
            if n % 2:
                job = jobs[n % len(jobs)]
                out.append(("forged", FORGER, f"/{job}.{'F' * 31}{'G' if n % 4 else 'H'}",
                            _body(n, FORGED_SIZE, self.host)))
        return out

    def _send(self, kind: str, source: str, path: str, body: bytes) -> int | None:
        with requests.Session() as session:
            session.mount("http://", SourceAddressAdapter(source))
            try:
                return session.post(self.base + path, data=body, timeout=10).status_code
            except requests.RequestException:
                return None  # the node was down: nothing could have been stored

    def _sample(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute(_PARKED).fetchone()
        if row is not None:
            self.result.peak_rows = max(self.result.peak_rows, int(row[0]))
            self.result.peak_bytes = max(self.result.peak_bytes, int(row[1]))
