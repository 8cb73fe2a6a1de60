"""Promo codes: an admin creates one (credits, max uses, optional expiry); each user may
redeem it once.

Exactly-once comes from the database, not from Python: the user's redemption is a row with
primary key (code, user), and the use count grows only by a guarded UPDATE (``uses <
max_uses`` and not expired), which PostgreSQL serialises on the code's row and re-checks
after each wait, so any number of concurrent redemptions give at most ``max_uses``. The
redemption row, the use, and the ``promo`` ledger entry (``promo:<CODE>:<user>``) commit
together or not at all.

Wrong and expired codes are recorded per user; after ``promo_misses_per_hour`` of them in an
hour, /promo answers "wait" without looking the code up.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from trt_actors.domain import ledger
from trt_actors.domain.admin import audit
from trt_actors.infra.store import Tx

CODE = re.compile(r"^[A-Z0-9_-]{3,32}$")
"""A promo code: 3-32 letters, digits, ``_`` or ``-``; compared in upper case."""
MISS_WINDOW_S = 3600.0


class Redeemed(enum.Enum):
    """What /promo CODE did."""

    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED_UP = "used_up"
    ALREADY = "already"
    """This user redeemed this code before."""
    WAIT = "wait"
    """Too many wrong codes lately."""


@dataclass(frozen=True, slots=True)
class Redemption:
    outcome: Redeemed
    credits: int = 0
    balance: int = 0


def normalise(code: str) -> str | None:
    """The code in its stored form, or None when it cannot be one."""
    code = code.strip().upper()
    return code if CODE.match(code) else None


def create(tx: Tx, admin_id: int, code: str, credits: int, max_uses: int,
           days: int | None) -> tuple[bool, datetime | None]:
    """Create the code: ``(created, expiry)``; not created when it exists already."""
    row = tx.one("promo_create", code=code, credits=credits, max_uses=max_uses, days=days,
                 admin_id=admin_id)
    if row is None:
        return False, None
    audit(tx, admin_id, "newpromo", detail=f"{code}: {credits} credits, {max_uses} uses"
          + (f", {days} days" if days is not None else ""))
    return True, row["expires_at"]


class _Refused(Exception):
    """Rolls the redemption's savepoint back."""


def redeem(tx: Tx, user_id: int, text: str, *, misses_per_hour: int) -> Redemption:
    """Redeem ``text`` for ``user_id`` (see the module for the guarantees)."""
    tx.run("promo_misses_forget", user_id=user_id, window_s=MISS_WINDOW_S)
    misses = tx.one("promo_misses_recent", user_id=user_id, window_s=MISS_WINDOW_S) or {}
    if int(misses.get("n") or 0) >= misses_per_hour:
        return Redemption(Redeemed.WAIT)
    code = normalise(text)
    row = tx.one("promo_get", code=code) if code else None
    if row is None or row["expired"]:
        tx.run("promo_miss", user_id=user_id)
        return Redemption(Redeemed.UNKNOWN if row is None else Redeemed.EXPIRED)
    try:
        with tx.savepoint():
            if tx.one("promo_mark", code=code, user_id=user_id) is None:
                return Redemption(Redeemed.ALREADY)
            used = tx.one("promo_use", code=code)
            if used is None:
                raise _Refused
            balance = ledger.apply(tx, user_id, ledger.Entry.PROMO, int(used["credits"]),
                                   f"promo:{code}:{user_id}", note=f"promo code {code}")
    except _Refused:
        # Used up, or expired between the look and the use (the guard saw it).
        again = tx.one("promo_get", code=code)
        return Redemption(Redeemed.EXPIRED if again and again["expired"] else Redeemed.USED_UP)
    credits = int(used["credits"])
    return Redemption(Redeemed.OK, credits, balance.available if balance else 0)
