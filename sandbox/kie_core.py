"""The KIE emulator's shared state: tasks, faults, config, rate limits, counters.

Handlers (on the emulator's IOLoop thread) and test code (on any thread) both reach it, so
every public method takes ``self.lock``. Work under the lock is small and O(1) per request
except the ``stats`` snapshot.
"""

from __future__ import annotations

import collections
import heapq
import hmac
import itertools
import json
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sandbox.kie_config import EmulatorConfig, SlidingWindow
from sandbox.kie_families import status_group
from sandbox.kie_faults import FaultSpec, parse_faults
from sandbox.kie_media import media_kind
from sandbox.kie_tasks import SUNO_FAMILIES, SUNO_TRACKS, Task

if TYPE_CHECKING:
    from sandbox.kie_uploads import StoredUpload

_MARKER = re.compile(r"\[(fail|stuck|large|slow)(?::([^\]]*))?\]")
_ID_PREFIX = {"veo": "veo_task_", "veo_extend": "veo_task_", "veo_4k": "veo_task_"}
_MB = 1024 * 1024


class EmulatorCore:
    """State behind the HTTP handlers and the ``KieEmulator`` Python methods."""

    def __init__(self, api_key: str, webhook_key: str | None, seed: int,
                 clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.clock = clock
        self.webhook_key = webhook_key
        self.config = EmulatorConfig()
        self.base_url = ""
        self._auth = f"Bearer {api_key}".encode()
        self._seed = seed
        self.reset()

    # ----- lifecycle -------------------------------------------------------------------
    def reset(self) -> None:
        """Forget tasks, counters, faults and rate-limit windows; reseed the random source."""
        with self.lock:
            self.generation = getattr(self, "generation", 0) + 1
            self.rng = random.Random(self._seed)
            self._ids = random.Random(self._seed + 1)
            self.faults = FaultSpec()
            self.tasks: dict[str, Task] = {}
            self._events: list[tuple[float, int, str, int, tuple[str, ...]]] = []
            self._seq = itertools.count()
            self._limiters = {"create": SlidingWindow(), "status": SlidingWindow()}
            self.calls: collections.Counter[str] = collections.Counter()
            self.answers: dict[str, collections.Counter[str]] = {}
            self.rate_limited: collections.Counter[str] = collections.Counter()
            self.faults_fired: collections.Counter[str] = collections.Counter()
            self.callbacks: list[dict[str, Any]] = []
            self.callbacks_dropped: list[dict[str, Any]] = []
            self.creates = 0
            self.uploads: dict[str, StoredUpload] = {}
            self.changed.notify_all()

    def set_faults(self, spec: Mapping[str, Any] | None) -> None:
        """Replace every fault with ``spec`` (the ``/_control/faults`` JSON)."""
        parsed = parse_faults(spec)
        with self.lock:
            self.faults = parsed

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Partially update the config; returns the full effective config."""
        with self.lock:
            self.config.update(changes)
            return self.config.as_dict()

    # ----- request-side helpers ----------------------------------------------------------
    def media_base(self) -> str:
        """Base of result URLs: ``public_url`` when configured, else the emulator's own URL."""
        return (self.config.public_url or self.base_url).rstrip("/")

    def authorized(self, header: str | None) -> bool:
        """Constant-time check of the ``Authorization`` header."""
        return hmac.compare_digest((header or "").encode(), self._auth)

    def count_call(self, endpoint: str) -> None:
        with self.lock:
            self.calls[endpoint] += 1

    def count_answer(self, endpoint: str, code: int | str) -> None:
        with self.lock:
            self.answers.setdefault(endpoint, collections.Counter())[str(code)] += 1

    def endpoint_fault(self, endpoint: str, model: str | None) -> Any:
        """The endpoint rule that fires for this call (counted in ``faults_fired``), or None."""
        with self.lock:
            rule = self.faults.endpoint_rule(endpoint, self.rng, model)
            if rule is not None:
                self.faults_fired[f"endpoint.{endpoint}.{rule.kind}"] += 1
            return rule

    def admit(self, category: str) -> float | None:
        """None when admitted; else the Retry-After seconds (the call is counted as limited)."""
        with self.lock:
            cfg = self.config
            if not cfg.rate_limits:
                return None
            limit, window = ((cfg.create_limit, cfg.create_window_s) if category == "create"
                             else (cfg.status_limit, cfg.status_window_s))
            limiter, now = self._limiters[category], self.clock()
            if limiter.admit(now, limit, window):
                return None
            self.rate_limited[category] += 1
            return limiter.retry_after(now, window)

    def charge(self) -> bool:
        """Take ``credit_cost`` from the balance; False (nothing taken) when it is too low."""
        with self.lock:
            cost = self.config.credit_cost
            if cost <= 0:
                return True
            if self.config.credits < cost:
                return False
            self.config.credits -= cost
            return True

    # ----- tasks ------------------------------------------------------------------------
    def create_task(self, family: str, model: str, request: dict[str, Any], prompt: str,
                    callback_url: str | None) -> Task:
        """Create a task: decide its outcome (markers, faults), schedule its callbacks."""
        with self.lock:
            cfg, now = self.config, self.clock()
            task_id = _ID_PREFIX.get(family, "") + f"{self._ids.getrandbits(128):032x}"
            ext = media_kind(model, family)
            task = Task(task_id=task_id, family=family, model=model, request=request,
                        prompt=prompt, callback_url=callback_url or None, created_mono=now,
                        created_wall=time.time(), duration=cfg.duration_for(model), ext=ext,
                        n_results=self._results(family, model),
                        pad_bytes=int(cfg.large_result_mb * _MB))
            self._apply_markers(task)
            for name in ("fail", "stuck"):
                fault = self.faults.task(name, self.rng, model)
                if fault is not None and task.outcome == "success":
                    self.faults_fired[f"task.{name}"] += 1
                    task.outcome, task.fail_code, task.fail_msg = name, fault.code, fault.msg
            if task.callback_url:
                task.early = self._task_fault("early", model)
                task.out_of_order = self._task_fault("out_of_order", model)
            if task.early and task.outcome == "stuck":
                task.early = False  # a task that never ends has nothing to call back early
            if task.early:
                task.duration = 0.0  # finished before the create answer leaves
            self.tasks[task_id] = task
            self.creates += 1
            if task.callback_url and not task.early:
                self._schedule(task)
            return task

    def _results(self, family: str, model: str) -> int:
        if family in SUNO_FAMILIES:
            return SUNO_TRACKS
        if family == "midjourney" and model != "mj_video":
            return 4  # a Midjourney grid: four images
        return max(self.config.results_per_task, 1)

    def _task_fault(self, name: str, model: str) -> bool:
        fired = self.faults.callback(name, self.rng, model) is not None
        if fired:
            self.faults_fired[f"callback.{name}"] += 1
        return fired

    def _apply_markers(self, task: Task) -> None:
        for kind, arg in _MARKER.findall(task.prompt):
            if kind == "fail":
                task.outcome, task.fail_code = "fail", arg or "500"
                task.fail_msg = "generation failed (emulated)"
            elif kind == "stuck":
                task.outcome = "stuck"
            elif kind == "large" and arg:
                task.pad_bytes = int(float(arg) * _MB)
            elif kind == "slow" and arg:
                task.duration = float(arg)

    def _schedule(self, task: Task) -> None:
        for offset, kinds in task.callback_plan():
            entry = (task.created_mono + offset, next(self._seq), task.task_id, task.epoch, kinds)
            heapq.heappush(self._events, entry)

    def due_callbacks(self) -> list[tuple[Task, tuple[str, ...]]]:
        """Pop every callback group that is due on the clock (stale entries are skipped)."""
        due: list[tuple[Task, tuple[str, ...]]] = []
        with self.lock:
            now, events = self.clock(), self._events
            while events and events[0][0] <= now:
                _, _, task_id, epoch, kinds = heapq.heappop(events)
                task = self.tasks.get(task_id)
                if task is not None and task.epoch == epoch:
                    due.append((task, kinds))
        return due

    def lookup(self, task_id: str, family: str) -> Task | None:
        """The task for a status query of endpoint family ``family`` (``veo`` also reports
        veo_extend / veo_4k tasks, ...), counting the poll; None if unknown or another's."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or status_group(task.family) != family:
                return None
            task.polls += 1
            return task

    def finish_task(self, task_id: str, outcome: str = "success", *, code: str = "500",
                    msg: str = "internal error") -> None:
        """End a task now (e.g. a stuck one) with ``outcome``; its callbacks follow."""
        if outcome not in ("success", "fail"):
            raise ValueError("outcome must be success or fail")
        with self.lock:
            task = self.tasks[task_id]
            task.epoch += 1  # cancels callbacks still scheduled under the old plan
            task.outcome = outcome
            task.fail_code, task.fail_msg = (code, msg) if outcome == "fail" else ("", "")
            task.duration = max(self.clock() - task.created_mono, 0.0)
            if task.callback_url:
                self._schedule(task)

    # ----- callbacks -------------------------------------------------------------------
    def callback_faults(self, task: Task) -> dict[str, Any]:
        """Per-callback faults that fire for one delivery, as {name: parameter}."""
        fired: dict[str, Any] = {}
        with self.lock:
            for name in ("drop", "duplicate", "delay", "malformed", "wrong_token", "wrong_hmac",
                         "stale_timestamp"):
                fault = self.faults.callback(name, self.rng, task.model)
                if fault is not None:
                    self.faults_fired[f"callback.{name}"] += 1
                    fired[name] = {"duplicate": fault.times, "delay": fault.seconds,
                                   "malformed": fault.mode}.get(name, True)
        return fired

    def record_callback(self, entry: dict[str, Any], generation: int, *, dropped: bool) -> None:
        """Log one callback attempt (or drop) unless a reset happened since it was planned."""
        with self.lock:
            if generation != self.generation:
                return
            (self.callbacks_dropped if dropped else self.callbacks).append(entry)
            self.changed.notify_all()

    def wait_for_callbacks(self, count: int, timeout: float,
                           task_id: str | None = None) -> list[dict[str, Any]]:
        """Block until ``count`` callbacks (of ``task_id`` if given) were answered or failed."""
        def matching() -> list[dict[str, Any]]:
            return [c for c in self.callbacks if task_id is None or c["task_id"] == task_id]

        with self.lock:
            if not self.changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"{len(matching())} of {count} callbacks after {timeout}s")
            return [dict(c) for c in matching()]

    # ----- observation -----------------------------------------------------------------
    def task_view(self, task: Task, now: float) -> dict[str, Any]:
        view = {"task_id": task.task_id, "family": task.family, "model": task.model,
                "state": task.state(now), "outcome": task.outcome, "polls": task.polls,
                "callback_url": task.callback_url, "created_at": task.created_wall,
                "duration_s": task.duration, "early": task.early,
                "out_of_order": task.out_of_order}
        if task.family in SUNO_FAMILIES:
            view["status"] = task.suno_status(now)
        return view

    def stats(self, *, details: bool = True) -> dict[str, Any]:
        """The ``GET /_control/stats`` document (a deep copy); ``details=False`` leaves out
        the ``callbacks``, ``callbacks_dropped`` and ``tasks`` lists (cheap for benchmarks)."""
        with self.lock:
            now = self.clock()
            by_state = collections.Counter(t.state(now) for t in self.tasks.values())
            snapshot: dict[str, Any] = {
                "calls": dict(self.calls),
                "answers": {k: dict(v) for k, v in self.answers.items()},
                "creates": self.creates,
                "polls": {t.task_id: t.polls for t in self.tasks.values() if t.polls},
                "rate_limited": dict(self.rate_limited),
                "faults_fired": dict(self.faults_fired),
                "callbacks_sent": len(self.callbacks),
                "callbacks_ok": sum(1 for c in self.callbacks if c["ok"]),
                "tasks_by_state": dict(by_state),
                "credits": self.config.credits,
            }
            if details:
                snapshot["callbacks"] = self.callbacks
                snapshot["callbacks_dropped"] = self.callbacks_dropped
                snapshot["tasks"] = [self.task_view(t, now) for t in self.tasks.values()]
            # A JSON round trip is the cheapest safe deep copy of this plain data.
            copied: dict[str, Any] = json.loads(json.dumps(snapshot))
            return copied
