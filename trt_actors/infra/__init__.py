"""Infrastructure: the store (the only psycopg importer), migrations, the embedded
PostgreSQL, settings, logs, metrics and the retry policy.
"""

from trt_actors.infra import metrics
from trt_actors.infra.embedded_pg import EmbeddedPostgres
from trt_actors.infra.logs import (
    Redactor,
    add_log_fields,
    environ_secrets,
    log_context,
    secrets_of,
    setup_logging,
)
from trt_actors.infra.metrics import node_registry
from trt_actors.infra.migrations import migrate, pending
from trt_actors.infra.retry import Backoff, RetryPolicy, retry_after_seconds
from trt_actors.infra.settings import (
    DatabaseSettings,
    Settings,
    load_database_settings,
    load_settings,
    settings_error_line,
)
from trt_actors.infra.store import Row, Store, Tx, jsonb

__all__ = [
    "Backoff",
    "DatabaseSettings",
    "EmbeddedPostgres",
    "Redactor",
    "RetryPolicy",
    "Row",
    "Settings",
    "Store",
    "Tx",
    "add_log_fields",
    "environ_secrets",
    "jsonb",
    "load_database_settings",
    "load_settings",
    "log_context",
    "metrics",
    "migrate",
    "node_registry",
    "pending",
    "retry_after_seconds",
    "secrets_of",
    "settings_error_line",
    "setup_logging",
]
