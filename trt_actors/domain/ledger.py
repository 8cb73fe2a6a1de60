"""The credit ledger: exactly-once by construction.

Every entry carries a unique reference (``job:42:hold``, ``topup:<charge id>``...). The entry
and the balance change are one statement, so a replayed operation inserts nothing and moves
nothing. ``users.available`` and ``users.held`` have CHECK constraints, so no interleaving of
concurrent holds can ever take a balance below zero: PostgreSQL refuses, and the hold is
reported as ``InsufficientCredits``.

A job's life in the ledger: ``hold`` at confirm (available → held), then exactly one of
``capture`` at delivery (held → spent) or ``release`` at failure (held → available). The job
state machine has exactly one end per job, and the end and its ledger entry share a
transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from trt_actors.errors import ConstraintViolated, InsufficientCredits, NotFound
from trt_actors.infra.store import Store, Tx


class Entry(enum.StrEnum):
    """Kinds of ledger entries. Mirrored by the PostgreSQL enum ``ledger_kind``."""

    GRANT = "grant"
    """Credits given by the node (welcome grant, an admin's /grant)."""
    TOPUP = "topup"
    """Credits bought (Telegram Stars)."""
    HOLD = "hold"
    """Reserved for a confirmed job."""
    CAPTURE = "capture"
    """A hold spent: the job's result was delivered."""
    RELEASE = "release"
    """A hold returned: the job failed, was cancelled or timed out."""
    PROMO = "promo"
    """Credits from a promo code (``promo:<CODE>:<user>``, once per user and code)."""
    REFUND = "refund"
    """A delivered job's price given back by an admin (``refund:job:<id>``, once per job)."""
    DEBIT = "debit"
    """Credits an admin took off (``/adjust`` with a negative amount; the note says why)."""
    REVERSAL = "reversal"
    """A refunded Stars top-up: the credits still unspent from it taken back
    (``reversal:<charge id>``, once per payment; see ``domain.admin.refund_topup``)."""
    REFERRAL = "referral"
    """An inviter's bonus for the first paid job an invitee got delivered
    (``referral:<invitee>``, once per invitee; see ``domain.referrals``)."""


# (change of available, change of held) per credit of the entry.
_DELTAS: dict[Entry, tuple[int, int]] = {
    Entry.GRANT: (1, 0),
    Entry.TOPUP: (1, 0),
    Entry.HOLD: (-1, 1),
    Entry.CAPTURE: (0, -1),
    Entry.RELEASE: (1, -1),
    Entry.PROMO: (1, 0),
    Entry.REFUND: (1, 0),
    Entry.DEBIT: (-1, 0),
    Entry.REVERSAL: (-1, 0),
    Entry.REFERRAL: (1, 0),
}


@dataclass(frozen=True, slots=True)
class Balance:
    """A user's credits."""

    available: int
    """Spendable now."""
    held: int
    """Reserved by jobs in flight."""


def apply(
    tx: Tx, user_id: int, kind: Entry, amount: int, ref: str, *,
    job_id: int | None = None, note: str | None = None,
) -> Balance | None:
    """Record one entry and move the balance; ``None`` when ``ref`` was already used."""
    if amount < 0:
        raise ValueError("ledger amounts are never negative; the kind gives the direction")
    d_available, d_held = _DELTAS[kind]
    try:
        row = tx.one(
            "ledger_apply", user_id=user_id, kind=kind.value, amount=amount, ref=ref,
            job_id=job_id, note=note, d_available=d_available * amount, d_held=d_held * amount,
        )
    except ConstraintViolated as exc:
        if exc.constraint == "users_available_nonnegative":
            raise InsufficientCredits(user_id, amount) from exc
        if exc.constraint == "ledger_user_id_fkey":
            raise NotFound(f"user {user_id} does not exist") from exc
        raise
    return Balance(row["available"], row["held"]) if row else None


def ensure_user(tx: Tx, user_id: int, language: str | None = None) -> bool:
    """Create the user if new; True when created now."""
    return tx.one("user_ensure", user_id=user_id, language=language) is not None


def balance(store: Store | Tx, user_id: int) -> Balance:
    row = store.one("user_get", user_id=user_id)
    if row is None:
        return Balance(0, 0)
    return Balance(row["available"], row["held"])


def grant(store: Store, user_id: int, amount: int, ref: str, note: str | None = None) -> bool:
    """Give credits (creating the user if needed); False when ``ref`` was already used."""
    with store.transaction() as tx:
        ensure_user(tx, user_id)
        return apply(tx, user_id, Entry.GRANT, amount, ref, note=note) is not None


def topup(store: Store, user_id: int, amount: int, charge_id: str) -> bool:
    """Credit a payment once per Telegram charge id; False for a replay."""
    with store.transaction() as tx:
        ensure_user(tx, user_id)
        return apply(tx, user_id, Entry.TOPUP, amount, f"topup:{charge_id}") is not None
