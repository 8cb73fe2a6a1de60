"""The node's settings: environment variables, validated once at start-up.

The variable names are the operator interface; other tools drive the node with them. A
missing or malformed value becomes one line naming the variable and what is wrong
(``settings_error_line``), never a traceback. Each subcommand reads only the part it uses:
``trt-node migrate`` the ``DatabaseSettings``, the node all of ``Settings``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("trt-node", appauthor=False))


def _cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def _http_url(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be host:port, got {value!r}")
    return value


class DatabaseSettings(BaseSettings):
    """Where the database is: all that ``trt-node migrate`` asks for (a migration job in a
    deploy pipeline has no bot token or KIE key). Environment variables only."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None, case_sensitive=False)

    database_url: SecretStr | None = Field(None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default_factory=_default_data_dir, validation_alias="TRT_DATA_DIR")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        from trt_actors.infra.store import conninfo_parts  # lazily: only a set URL needs the driver

        try:
            conninfo_parts(value.get_secret_value())
        except ValueError:  # say it in our words, in terms of the setting
            raise ValueError("must be a PostgreSQL URL like postgresql://user:pass@host/db "
                             "(or be unset for the embedded server)") from None
        return value


class Settings(DatabaseSettings):
    """Every setting of the node: the database part and the rest."""

    telegram_token: SecretStr = Field(validation_alias="TRT_TELEGRAM_TOKEN")
    telegram_api_url: str = Field(
        "https://api.telegram.org", validation_alias="TRT_TELEGRAM_API_URL")
    kie_api_key: SecretStr = Field(validation_alias="TRT_KIE_API_KEY")
    kie_api_url: str = Field("https://api.kie.ai", validation_alias="TRT_KIE_API_URL")
    # KIE's file upload API (users' photos and files become URLs a model accepts).
    kie_upload_url: str = Field(
        "https://kieai.redpandaai.co", validation_alias="TRT_KIE_UPLOAD_URL")
    # KIE keeps uploads ~24 h: an input uploaded longer ago than this is uploaded again (from
    # the Telegram file_id) before createTask. The default leaves an hour's margin.
    kie_upload_ttl_s: float = Field(82800, gt=0, validation_alias="TRT_KIE_UPLOAD_TTL_S")
    public_callback_url: str | None = Field(None, validation_alias="TRT_PUBLIC_CALLBACK_URL")
    callback_listen: str = Field("127.0.0.1:8080", validation_alias="TRT_CALLBACK_LISTEN")
    status_listen: str = Field("127.0.0.1:8081", validation_alias="TRT_STATUS_LISTEN")
    status_token: SecretStr | None = Field(None, validation_alias="TRT_STATUS_TOKEN")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), validation_alias="TRT_ADMIN_IDS")
    kie_hmac_key: SecretStr | None = Field(None, validation_alias="TRT_KIE_HMAC_KEY")

    # Processes (README: "Workers and several nodes"). `trt-node run --workers N` overrides
    # TRT_WORKERS; 1 runs everything in the one process. TRT_WORKER_SLOT is set by the parent
    # process for each worker it starts, never by hand. TRT_NODE_NAME tells this node's
    # workers from another node's on the same database (/status, leases).
    workers: int = Field(default_factory=_cores, ge=1, le=64, validation_alias="TRT_WORKERS")
    worker_slot: int | None = Field(None, ge=0, validation_alias="TRT_WORKER_SLOT")
    node_name: str = Field(default_factory=socket.gethostname, min_length=1, max_length=100,
                           validation_alias="TRT_NODE_NAME")

    # Tuning, with safe defaults.
    welcome_credits: int = Field(20, ge=0, validation_alias="TRT_WELCOME_CREDITS")
    free_daily_limit: int = Field(10, ge=0, validation_alias="TRT_FREE_DAILY_LIMIT")
    # The markup: credits charged per KIE credit a request costs, rounded up (README: "How
    # prices are computed").
    credits_per_kie_credit: float = Field(
        0.5, gt=0, allow_inf_nan=False, validation_alias="TRT_CREDITS_PER_KIE_CREDIT")
    kie_create_per_10s: int = Field(20, ge=1, le=20, validation_alias="TRT_KIE_CREATE_PER_10S")
    kie_status_per_s: float = Field(10, gt=0, le=10, validation_alias="TRT_KIE_STATUS_PER_S")
    telegram_per_s: float = Field(30, gt=0, validation_alias="TRT_TELEGRAM_PER_S")
    telegram_per_chat_s: float = Field(1, gt=0, validation_alias="TRT_TELEGRAM_PER_CHAT_S")
    # A private chat's token bucket: this many sends at once, then TRT_TELEGRAM_PER_CHAT_S
    # (Telegram's FAQ allows short bursts in a chat, about one message a second over time).
    telegram_chat_burst: int = Field(3, ge=1, le=10, validation_alias="TRT_TELEGRAM_CHAT_BURST")
    # A job's progress message goes only if the job still runs this long after confirm: a
    # fast job's user gets the result alone (0: at once, always).
    progress_after_s: float = Field(3, ge=0, le=60, validation_alias="TRT_PROGRESS_AFTER_S")
    # How long a media send waits for Telegram's answer: one that times out is "maybe sent"
    # (README: "Delivery promise"), so this is generous.
    telegram_media_timeout_s: float = Field(
        60, gt=0, validation_alias="TRT_TELEGRAM_MEDIA_TIMEOUT_S")
    max_job_actors: int = Field(32, ge=1, le=512, validation_alias="TRT_MAX_JOB_ACTORS")
    # Callback abuse limits (README: "Callback answers").
    orphan_max_rows: int = Field(10_000, ge=1, validation_alias="TRT_ORPHAN_MAX_ROWS")
    orphan_max_bytes: int = Field(  # at least one 1 MB body must fit
        64 << 20, ge=1 << 20, validation_alias="TRT_ORPHAN_MAX_BYTES")
    callback_forged_limit: int = Field(20, ge=1, validation_alias="TRT_CALLBACK_FORGED_LIMIT")
    callback_forged_window_s: float = Field(
        60, gt=0, validation_alias="TRT_CALLBACK_FORGED_WINDOW_S")
    callback_block_s: float = Field(300, ge=0, validation_alias="TRT_CALLBACK_BLOCK_S")
    log_format: str = Field(
        "console", pattern="^(console|json)$", validation_alias="TRT_LOG_FORMAT")
    log_level: str = Field("INFO", validation_alias="TRT_LOG_LEVEL")
    catalog_path: Path | None = Field(None, validation_alias="TRT_CATALOG")
    # Days rows that are done with (handled updates, sent outbox rows, settled callbacks,
    # events of ended jobs) are kept before the janitor deletes them; jobs and the ledger are
    # kept for good. At least a day: Telegram may resend an update for 24 h, and the handled
    # row is how a resent one is recognised.
    retention_days: int = Field(30, ge=1, validation_alias="TRT_RETENTION_DAYS")
    # Growth (README: "Referrals, broadcasts, alerts, history"): the inviter's bonus; the
    # broadcast pace (at most 3/4 of TRT_TELEGRAM_PER_S is used); alerts pushed to admins.
    referral_credits: int = Field(10, ge=0, validation_alias="TRT_REFERRAL_CREDITS")
    broadcast_per_s: float = Field(20, gt=0, validation_alias="TRT_BROADCAST_PER_S")
    kie_credits_alert_below: float = Field(
        100, ge=0, validation_alias="TRT_KIE_CREDITS_ALERT_BELOW")
    kie_credits_poll_s: float = Field(300, ge=1, validation_alias="TRT_KIE_CREDITS_POLL_S")
    alert_min_interval_s: float = Field(300, ge=0, validation_alias="TRT_ALERT_MIN_INTERVAL_S")
    alert_failure_rate: float = Field(
        0.5, ge=0, le=1, validation_alias="TRT_ALERT_FAILURE_RATE")
    alert_window_s: float = Field(900, gt=0, validation_alias="TRT_ALERT_WINDOW_S")
    alert_backlog_s: float = Field(120, gt=0, validation_alias="TRT_ALERT_BACKLOG_S")
    # Per-user limits (admins exempt) and the texts Telegram requires of bots taking Stars
    # (README: "Admin panel, promo codes, Stars").
    max_jobs_in_flight: int = Field(3, ge=1, validation_alias="TRT_MAX_JOBS_IN_FLIGHT")
    confirm_rate_per_min: int = Field(10, ge=1, validation_alias="TRT_CONFIRM_RATE_PER_MIN")
    promo_misses_per_hour: int = Field(5, ge=1, validation_alias="TRT_PROMO_MISSES_PER_HOUR")
    terms_text: str | None = Field(None, min_length=1, max_length=4000,
                                   validation_alias="TRT_TERMS_TEXT")
    paysupport_text: str | None = Field(None, min_length=1, max_length=4000,
                                        validation_alias="TRT_PAYSUPPORT_TEXT")

    @field_validator("telegram_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        head, sep, tail = token.partition(":")
        if not sep or not head.isdigit() or len(tail) < 10:
            raise ValueError("must look like 123456:ABC... (the token @BotFather gave you)")
        return value

    @field_validator("kie_api_key")
    @classmethod
    def _key_present(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().strip()) < 8:
            raise ValueError("must be your KIE API key (at least 8 characters)")
        return value

    @field_validator(
        "telegram_api_url", "kie_api_url", "kie_upload_url", "public_callback_url")
    @classmethod
    def _urls(cls, value: str | None, info: Any) -> str | None:
        return _http_url(info.field_name, value)

    @field_validator("callback_listen", "status_listen")
    @classmethod
    def _listens(cls, value: str) -> str:
        return _listen(value)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admins(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
            if not all(p.lstrip("-").isdigit() for p in parts):
                raise ValueError(f"must be Telegram user ids separated by commas, got {value!r}")
            return frozenset(int(p) for p in parts)
        return value

    @property
    def status_is_public(self) -> bool:
        host = self.status_listen.rpartition(":")[0].strip("[]")
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True

    def check_consistency(self) -> None:
        """Cross-field rules; raises ValueError with the variable name first."""
        if self.status_is_public and self.status_token is None:
            raise ValueError(
                "TRT_STATUS_TOKEN: required when TRT_STATUS_LISTEN is not a loopback address")


_ALIASES = {name: (f.validation_alias if isinstance(f.validation_alias, str) else name)
            for name, f in Settings.model_fields.items()}
_NAMED_FIRST = frozenset(("TRT_TELEGRAM_TOKEN", "TRT_TELEGRAM_API_URL", "TRT_KIE_API_KEY",
                          "TRT_KIE_API_URL"))
"""Named before the database part when several variables are wrong, as before the split:
pydantic validates a base class's fields (``DatabaseSettings``) first."""


def _variable(err: ErrorDetails) -> str:
    loc = str(err["loc"][0]) if err["loc"] else "settings"
    return _ALIASES.get(loc, loc).upper()


def settings_error_line(exc: ValidationError | ValueError) -> str:
    """One line naming the first bad variable and what is wrong with it."""
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        err = next((e for e in errors if _variable(e) in _NAMED_FIRST), errors[0])
        var = _variable(err)
        if err["type"] == "missing":
            return f"{var}: is required but not set"
        message = str(err["msg"]).removeprefix("Value error, ")
        return f"{var}: {message}"
    return str(exc)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (tests pass overrides by variable name)."""
    settings = Settings(**overrides)
    settings.check_consistency()
    return settings


def load_database_settings(**overrides: Any) -> DatabaseSettings:
    """Only the database part of the environment (``trt-node migrate``)."""
    return DatabaseSettings(**overrides)

