"""Virtual actors: started on demand, passivated when idle, bounded in number.

``route(key, message)`` delivers to the actor for ``key`` (a job id, a chat id), starting it
if it is not running. An actor that finds its inbox empty after a message asks to passivate;
the router stops it and stashes anything that arrives meanwhile, then starts a fresh actor
for the stash. At most ``max_active`` actors run at once; messages for other keys wait in
arrival order until one stops. So the number of threads follows active work: a hundred
thousand jobs waiting on KIE cost rows in PostgreSQL, not threads.

The router is a plain thread-safe object (one lock), not an actor: it is called from Tornado's
loop, the poller and the actors themselves, and a hop through another mailbox would only add
latency. Everything it holds in memory can be rebuilt from the database, which the janitor
does after a crash.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import pykka

from trt_actors.errors import StaleLease
from trt_actors.infra.logs import log_context

log = logging.getLogger("trt.router")

ActorFactory = Callable[[Hashable, "Router"], pykka.ActorRef[Any]]


@dataclass
class _Entry:
    ref: pykka.ActorRef[Any]
    stopping: bool = False
    stash: list[Any] = field(default_factory=list)


class Router:
    """Routes messages to virtual actors of one kind."""

    def __init__(self, name: str, factory: ActorFactory, *, max_active: int = 32) -> None:
        self.name = name
        self._factory = factory
        self._max_active = max_active
        self._lock = threading.Lock()
        self._active: dict[Hashable, _Entry] = {}
        self._waiting: collections.OrderedDict[Hashable, list[Any]] = collections.OrderedDict()
        self._closed = False
        self.started = 0
        self.passivated = 0
        self.failures = 0
        self.last_failure: tuple[float, str] | None = None

    def route(self, key: Hashable, message: Any) -> None:
        """Deliver ``message`` to the actor for ``key``; never blocks on the actor."""
        with self._lock:
            if self._closed:
                log.debug("%s router closed; dropped %r", self.name, message)
                return
            entry = self._active.get(key)
            if entry is not None and not entry.stopping:
                try:
                    entry.ref.tell(message)
                    return
                except pykka.ActorDeadError:  # died without telling us (failed on start)
                    del self._active[key]
                    entry = None
            if entry is not None:
                entry.stash.append(message)
            elif key in self._waiting or len(self._active) >= self._max_active:
                self._waiting.setdefault(key, []).append(message)
            else:
                self._start(key, [message])

    def idle(self, key: Hashable, ref: pykka.ActorRef[Any]) -> None:
        """Called by an actor whose inbox is empty: stop it unless a message slipped in."""
        with self._lock:
            entry = self._active.get(key)
            if entry is None or entry.ref is not ref or entry.stopping:
                return
            if not ref.actor_inbox.empty():
                return
            entry.stopping = True
            self.passivated += 1
        ref.stop(block=False)

    def stopped(self, key: Hashable, ref: pykka.ActorRef[Any], error: str | None = None) -> None:
        """Called from the actor's thread as it ends (normally or by failure)."""
        with self._lock:
            if error is not None:
                self.failures += 1
                self.last_failure = (time.time(), error)
            entry = self._active.get(key)
            if entry is None or entry.ref is not ref:
                return
            del self._active[key]
            if self._closed:
                return
            if entry.stash:
                self._start(key, entry.stash)
            while self._waiting and len(self._active) < self._max_active:
                next_key, messages = self._waiting.popitem(last=False)
                self._start(next_key, messages)

    def record_failure(self, reason: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_failure = (time.time(), reason)

    def _start(self, key: Hashable, messages: list[Any]) -> None:
        ref = self._factory(key, self)
        self._active[key] = _Entry(ref)
        self.started += 1
        for message in messages:
            ref.tell(message)

    def close(self, timeout: float = 10.0) -> None:
        """Stop routing and stop every active actor (waiting messages are dropped: the
        database still has every fact they were about)."""
        with self._lock:
            self._closed = True
            refs = [e.ref for e in self._active.values()]
            self._waiting.clear()
        for ref in refs:
            try:
                ref.stop(block=True, timeout=timeout)
            except pykka.ActorDeadError:
                pass
            except pykka.Timeout:
                log.warning("%s actor did not stop within %.0fs", self.name, timeout)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "active": len(self._active),
                "waiting_keys": len(self._waiting),
                "max_active": self._max_active,
                "started": self.started,
                "passivated": self.passivated,
                "failures": self.failures,
                "last_failure": (
                    {"at": self.last_failure[0], "reason": self.last_failure[1]}
                    if self.last_failure else None
                ),
            }

    def wait_idle(self, timeout: float) -> bool:
        """True once no actor is active and nothing waits (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._active and not self._waiting:
                    return True
            time.sleep(0.005)
        return False


class VirtualActor(pykka.ThreadingActor):
    """Base for per-key actors: handles one message at a time, never lets an exception (not
    even ``SystemExit``) escape into pykka — which would stop every actor of the process —
    and passivates as soon as its inbox is empty."""

    use_daemon_thread = True

    def __init__(self, key: Hashable, router: Router) -> None:
        super().__init__()
        self.key = key
        self.router = router

    def handle(self, message: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def on_receive(self, message: Any) -> Any:
        # every line logged while handling carries job_id / chat_id (from the router's name)
        name = self.router.name
        with log_context(**{f"{name}_id": self.key}, actor=f"{name}:{self.key}"):
            try:
                self.handle(message)
            except StaleLease as exc:
                # Another worker owns this key's partition now (and re-drives its work).
                log.info("%s %s: %s", name, self.key, exc)
            except BaseException as exc:
                log.exception("%s %s failed on %s", name, self.key, type(message).__name__)
                self.router.record_failure(f"{type(exc).__name__}: {exc}")
            finally:
                if self.actor_inbox.empty():
                    self.router.idle(self.key, self.actor_ref)
        return None

    def on_stop(self) -> None:
        self.router.stopped(self.key, self.actor_ref)

    def on_failure(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.router.stopped(self.key, self.actor_ref, error=f"{exc_type.__name__}: {exc}")
