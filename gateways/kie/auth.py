"""Authentication of KIE callbacks: the optional webhook HMAC and the per-job URL token.

Both checks are constant-time and never raise: they run on attacker-controlled input at a
public edge, and a malformed value is simply not a valid credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re

__all__ = ["tokens_equal", "verify_signature"]

_TIMESTAMP = re.compile(r"\d{1,12}(\.\d{1,9})?")


def verify_signature(
    hmac_key: str, task_id: str, timestamp: str, signature: str, *, now: float,
    tolerance: float = 300.0,
) -> bool:
    """Check KIE's optional webhook HMAC. Never raises.

    ``signature`` must be ``base64(HMAC-SHA256(hmac_key, f"{task_id}.{timestamp}"))`` (the
    ``X-Webhook-Signature`` header) and ``timestamp`` (``X-Webhook-Timestamp``, Unix seconds)
    within ``tolerance`` seconds of ``now``, either side: a stale one may be a replay, a future
    one a forgery prepared in advance.
    """
    try:
        if not all(isinstance(v, str) for v in (hmac_key, task_id, timestamp, signature)):
            return False
        if not hmac_key or not task_id or not _TIMESTAMP.fullmatch(timestamp):
            return False
        sent_at = float(timestamp)
        if not (math.isfinite(now) and abs(now - sent_at) <= tolerance):
            return False
        expected = hmac.new(hmac_key.encode(), f"{task_id}.{timestamp}".encode(),
                            hashlib.sha256).digest()
        try:
            given = base64.b64decode(signature.strip().encode("ascii"), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(expected, given)
    except Exception:  # e.g. a task id with lone surrogates: not a valid signature either
        return False


def tokens_equal(a: object, b: object) -> bool:
    """Constant-time equality of two secret tokens; empty or non-string tokens never match."""
    if not (isinstance(a, str) and isinstance(b, str) and a and b):
        return False
    try:
        return hmac.compare_digest(a.encode(), b.encode())
    except UnicodeEncodeError:
        return False
