"""The KIE HTTP client: create per family, status queries, credits.

Which path, body and status shape each family uses is :mod:`gateways.kie.families`.

Blocking (requests), meant to be called from actor threads. Every failure becomes one of the
project's KIE exceptions (``trt_actors.errors``):

* ``KieRetryable`` — KIE certainly did not do the work (connect error, 429, 455, 5xx other
  than 501/505, or the local rate limiter had no token); try again later, after
  ``retry_after`` if given.
* ``KieOutcomeUnknown`` — createTask *may* have created a (paid) task: the request was sent
  and no usable answer came back (read timeout, connection dropped, 2xx with garbage). Never
  retried here: createTask is not idempotent; the job must reconcile.
* ``KieFinal`` / ``KieAuthError`` — KIE refused (400/404/422/501/505, resp. 401/402).

The API key lives only in the request headers; ``repr`` and every exception and log message
are built from sanitised text (``_safe``), and exceptions are raised ``from None`` so a
traceback never prints requests' own, unsanitised, exception text.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from gateways.kie.convert import body_code, short_text
from gateways.kie.families import FAMILIES, PLACEHOLDER_CALLBACK, build_body, split_1080p_id
from gateways.kie.rate_limit import RateLimiter
from gateways.kie.reports import task_report
from trt_actors import (
    Backoff,
    ConfigError,
    KieAuthError,
    KieFinal,
    KieOutcomeUnknown,
    KieRetryable,
    RetryPolicy,
    TaskReport,
    retry_after_seconds,
)

__all__ = ["SUNO_PLACEHOLDER_CALLBACK", "KieClient"]

log = logging.getLogger("trt.kie")

SUNO_PLACEHOLDER_CALLBACK = PLACEHOLDER_CALLBACK
"""The placeholder ``callBackUrl`` (kept under its first name; see ``families``)."""

_CREDIT_PATH = "/api/v1/chat/credit"
_FINAL_5XX = frozenset({501, 505})  # "generation failed" and "feature disabled" are answers
_MAX_RETRY_AFTER = 3600.0


class _Transient(Exception):
    """One attempt failed in a way worth retrying (never leaves this module)."""

    def __init__(self, reason: str, code: int | None, retry_after: float | None) -> None:
        super().__init__(reason)
        self.reason, self.code, self.retry_after = reason, code, retry_after


def _never_sent(exc: requests.RequestException) -> bool:
    """True only when the request certainly never reached the server (connection not made).

    requests wraps urllib3's failure to connect as ``MaxRetryError(reason=NewConnectionError
    | ConnectTimeoutError)``; a connection dropped after sending arrives as a bare
    ``ProtocolError`` and a read timeout as ``ReadTimeout`` (or ``ReadTimeoutError`` inside a
    ``ConnectionError`` while reading the body). Anything not recognised counts as sent.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False
    if not isinstance(exc, requests.ConnectionError) or not exc.args:
        return False
    reason = exc.args[0]
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


class KieClient:
    """Blocking client for every KIE family of :data:`gateways.kie.families.FAMILIES`.

    ``create_limit`` / ``status_limit`` are ``(calls, per_seconds)`` for the local sliding
    windows (KIE: 20 createTask per 10 s, 10 status queries per second). Retries happen
    inside a call, at most ``max_tries`` attempts with exponential backoff and jitter
    (``backoff_base`` doubling, capped at ``backoff_cap``), honouring ``Retry-After``; a
    Retry-After longer than ``backoff_cap`` ends the call at once with ``KieRetryable`` so
    the caller can schedule the retry instead of blocking a thread. ``share(window)`` is
    this worker's part of those limits when several workers use one key (``Leases.share``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        create_limit: tuple[float, float] = (20, 10.0),
        status_limit: tuple[float, float] = (10, 1.0),
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_tries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        session: requests.Session | None = None,
        share: Callable[[float], float] | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key or not api_key.isprintable() \
                or any(c.isspace() for c in api_key):
            # Never echo the key: requests' own InvalidHeader message would.
            raise ConfigError("KIE API key is empty or contains whitespace/control characters")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"KIE base URL must be http(s): {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._create_limiter = RateLimiter(*create_limit)
        self._status_limiter = RateLimiter(*status_limit)
        if share is not None:  # several workers on one KIE key: each takes its share
            for limiter in (self._create_limiter, self._status_limiter):
                limiter.share = functools.partial(share, limiter.per)
        self._timeout = (connect_timeout, read_timeout)
        # "Full jitter": uniform in [0, min(cap, base * 2**n)], so retrying nodes spread out.
        # A Retry-After longer than the cap is the caller's to schedule, not a thread's to
        # sleep through.
        self._max_tries = max(1, max_tries)
        self._retry = RetryPolicy(Backoff(backoff_base, backoff_cap, jitter=(0.0, 1.0)),
                                  max_attempts=self._max_tries, max_wait=backoff_cap)
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # Retries are ours (``_call``): urllib3 must never resend a createTask by itself.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session

    def __repr__(self) -> str:
        return f"KieClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self._session.close()

    # --- public API -------------------------------------------------------------------------

    def create_task(
        self, family: str, model_id: str, input: Mapping[str, Any], callback_url: str | None,
        *, rate_wait: float = 10.0,
    ) -> str:
        """Create a KIE task; return its task id.

        ``input`` is the model's user fields; the system fields (``model``, ``callBackUrl``)
        are set here and always win over same-named input keys (see ``families.build_body``).
        Families that require a callback URL get ``PLACEHOLDER_CALLBACK`` when there is none,
        and the poller observes the task. ``veo_1080p`` makes no call (see ``families``).
        """
        spec = FAMILIES.get(family)
        if spec is None:
            raise KieFinal(f"unknown KIE family {family!r}")
        if spec.create_path is None:
            source = input.get("taskId")
            if not isinstance(source, str) or not source.strip():
                raise KieFinal(f"{family} {model_id}: taskId of the source video is required")
            index = input.get("index", 0)
            return f"{source}#{index if isinstance(index, int) else 0}"
        if spec.callback_required and callback_url is None:
            callback_url = PLACEHOLDER_CALLBACK
        payload = build_body(family, model_id, input, callback_url)
        try:
            body = json.dumps(payload, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise KieFinal(f"createTask {model_id}: input is not JSON: {exc}") from None
        # The callback URL carries the job's secret token: keep it out of messages too.
        secrets = (callback_url,) if callback_url else ()
        data = self._call("POST", spec.create_path, what=f"createTask {family} model={model_id}",
                          data=body, idempotent=False, limiter=self._create_limiter,
                          rate_wait=rate_wait, secrets=secrets)
        task_id = data.get("taskId") if isinstance(data, Mapping) else None
        if isinstance(task_id, int) and not isinstance(task_id, bool):
            task_id = str(task_id)
        if not isinstance(task_id, str) or not task_id.strip():
            # KIE said 200 (created) but we cannot tell which task: it may exist.
            raise KieOutcomeUnknown(f"createTask {model_id}: success answer without a taskId")
        if family == "veo_4k" and task_id == input.get("taskId"):
            # KIE answers get-4k-video with the *source* task's id, which the source's own job
            # already holds: give the 4K job an id of its own ("<source>#4k"; see get_task).
            task_id = f"{task_id}#4k"
        return task_id

    def get_task(self, family: str, task_id: str, *, rate_wait: float = 5.0) -> TaskReport:
        """Ask KIE for a task's state (its family's record-info), normalised by ``reports``."""
        spec = FAMILIES.get(family)
        if spec is None:
            raise KieFinal(f"unknown KIE family {family!r}")
        if not task_id:
            raise KieFinal("empty task id")
        params = {"taskId": task_id}
        if spec.create_path is None:  # veo_1080p: "<source>#<index>"
            source, index = split_1080p_id(task_id)
            params = {"taskId": source, "index": index}
        elif family == "veo_4k":  # "<source>#4k" (see create_task)
            params = {"taskId": task_id.removesuffix("#4k")}
        data = self._call("GET", spec.status_path, what=f"status {family} task={task_id}",
                          params=params, idempotent=True,
                          limiter=self._status_limiter, rate_wait=rate_wait)
        if not isinstance(data, Mapping):
            raise KieRetryable(f"status {family} task={task_id}: answer without data")
        return task_report(spec.status_shape, task_id, data)

    def credits(self, *, rate_wait: float = 5.0) -> int:
        """The account's remaining KIE credits."""
        data = self._call("GET", _CREDIT_PATH, what="credits", idempotent=True,
                          limiter=self._status_limiter, rate_wait=rate_wait)
        if isinstance(data, int | float) and not isinstance(data, bool) \
                and math.isfinite(data):
            return int(data)
        if isinstance(data, str) and data.strip().isascii() and data.strip().isdigit():
            return int(data)
        raise KieRetryable("credits: malformed answer")

    def create_budget(self) -> int:
        """createTask calls the local limiter allows right now."""
        return int(self._create_limiter.headroom())

    @property
    def create_window(self) -> float:
        """Seconds of the local createTask limiter's sliding window."""
        return self._create_limiter.per

    def rate_headroom(self) -> dict[str, dict[str, float]]:
        """Local rate-limit headroom, for /status."""
        return {
            name: {"available": lim.headroom(), "limit": lim.capacity, "per": lim.per}
            for name, lim in (("create", self._create_limiter),
                              ("status", self._status_limiter))
        }

    # --- one HTTP call with retries --------------------------------------------------------------

    def _safe(self, text: str, secrets: tuple[str, ...] = ()) -> str:
        for secret in (self._api_key, *secrets):
            if secret:
                text = text.replace(secret, "***")
        return text[:500]

    def _call(
        self, method: str, path: str, *, what: str, idempotent: bool, limiter: RateLimiter,
        rate_wait: float, params: Mapping[str, str] | None = None, data: bytes | None = None,
        secrets: tuple[str, ...] = (),
    ) -> Any:
        """Send one request, retrying transient failures; return the envelope's ``data``."""
        url = self.base_url + path
        what = self._safe(what, secrets)

        def attempt() -> Any:
            if not limiter.acquire(rate_wait):
                raise KieRetryable(f"{what}: local rate limit", retry_after=limiter.wait_time())
            try:
                resp = self._session.request(
                    method, url, params=params, data=data, headers=self._headers,
                    timeout=self._timeout, allow_redirects=False)
            except requests.RequestException as exc:
                self._transport_failure(exc, what=what, idempotent=idempotent, secrets=secrets)
            return self._interpret(resp, what=what, idempotent=idempotent, secrets=secrets)

        tries = 0
        while True:
            tries += 1
            try:
                return attempt()
            except _Transient as exc:
                decision = self._retry.decide(tries, retry_after=exc.retry_after)
                if not decision.retry:
                    raise KieRetryable(f"{what}: {exc.reason}", code=exc.code,
                                       retry_after=exc.retry_after) from None
                log.warning("KIE %s: %s; retry %d of %d in %.2f s", what, exc.reason, tries,
                            self._max_tries - 1, decision.delay)
                time.sleep(decision.delay)

    def _transport_failure(
        self, exc: requests.RequestException, *, what: str, idempotent: bool,
        secrets: tuple[str, ...],
    ) -> NoReturn:
        summary = self._safe(f"{type(exc).__name__}: {exc}", secrets)
        if idempotent or _never_sent(exc):
            raise _Transient(summary, None, None) from None
        # The request was (or may have been) sent: a task may now exist. Never resend.
        raise KieOutcomeUnknown(f"{what}: outcome unknown ({summary})") from None

    def _interpret(
        self, resp: requests.Response, *, what: str, idempotent: bool,
        secrets: tuple[str, ...],
    ) -> Any:
        status = resp.status_code
        try:
            body = resp.json()
        except (ValueError, RecursionError):
            body = None
        code = msg = None
        if isinstance(body, Mapping):
            code = body_code(body.get("code"))
            msg = short_text(body.get("msg")) or short_text(body.get("message"))
        # The body's code wins (errors arrive inside HTTP 200), except a "200" body inside an
        # HTTP error status, which is not a success.
        effective = status if code is None or (code == 200 and status >= 300) else code
        reason = self._safe(f"HTTP {status}, code {effective}: {msg or resp.reason or ''}",
                            secrets)
        if 200 <= effective < 300:
            if isinstance(body, Mapping) and code is not None:
                return body.get("data")
            if idempotent:
                raise _Transient(f"unreadable answer ({reason})", status, None)
            raise KieOutcomeUnknown(f"{what}: unreadable success answer ({reason})")
        if effective in (401, 402):
            raise KieAuthError(f"{what}: {reason}", code=effective)
        if effective in (429, 455) or (500 <= effective < 600 and effective not in _FINAL_5XX):
            raise _Transient(reason, effective, retry_after_seconds(
                resp.headers.get("Retry-After"), limit=_MAX_RETRY_AFTER))
        if 400 <= effective < 600:
            raise KieFinal(f"{what}: {reason}", code=effective)
        if idempotent:
            raise _Transient(f"unexpected answer ({reason})", effective, None)
        raise KieOutcomeUnknown(f"{what}: unexpected answer ({reason})", code=effective)
