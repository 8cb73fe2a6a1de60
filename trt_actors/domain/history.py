"""Results that last: the Telegram ``file_id`` of each part of a delivered result.

KIE's result URLs expire after days; a file Telegram has once received stays sendable by its
``file_id`` for good. Delivery records them with the send (in the transaction that marks the
result sent and the job DELIVERED); ``/history`` sends a result again from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trt_actors.infra.store import Store, Tx, jsonb

MEDIA = frozenset({"photo", "video", "audio", "document", "animation", "voice"})
"""How a stored part is sent again (``send<Media>`` with the file_id)."""


@dataclass(frozen=True, slots=True)
class StoredResult:
    """A delivered job whose parts can be sent again by file_id."""

    job_id: int
    model_id: str
    created_at: datetime
    files: tuple[dict[str, str], ...]
    """``{"media", "file_id"}`` per part, in order."""


def store_files(tx: Tx, job_id: int, files: list[dict[str, Any]]) -> None:
    """Record ``[{"part", "media", "file_id"}]`` of a job's sent result (a replay: nothing)."""
    kept = [f for f in files if f.get("media") in MEDIA and f.get("file_id")]
    if kept:
        tx.run("result_files_store", job_id=job_id, files=jsonb(kept))


def of_user(store: Store | Tx, user_id: int, limit: int) -> list[StoredResult]:
    """The user's newest delivered results that can be sent again, newest first."""
    return [StoredResult(int(r["id"]), r["model_id"], r["created_at"],
                         tuple(dict(f) for f in r["files"]))
            for r in store.all("result_files_of_user", user_id=user_id, limit=limit)]
