"""What admins do to users, in the database: find, ban, adjust, refund; the audit of it all;
and the per-user limits checked at confirm.

Every function works inside the caller's transaction (the chat actor's, with the update
that asked), so an action, its ledger entry, its audit row and its replies commit together
or not at all, and a replayed update repeats nothing. Exactly-once comes from the database:
ledger references are unique (``refund:job:<id>``, ``reversal:<charge id>``), bans are
guarded UPDATEs.

**A Stars top-up refund** gives the user back all the stars of that payment (Telegram's
``refundStarPayment`` refunds a payment whole) and takes back the credits *still unspent
from it*, defined as ``min(credits of the top-up, the user's available balance now)``: the
credits bought are taken back as far as the user still has them, never more than the
top-up brought and never into a negative balance (credits held by jobs in flight are not
touched; those jobs finish normally). The ``reversal`` entry's note says how many of how
many.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from trt_actors.domain import jobs, ledger, outbox
from trt_actors.domain.states import JobState
from trt_actors.errors import UserLimitReached
from trt_actors.infra.store import Row, Tx

TOPUP_PREFIX = "topup:"
"""The ledger reference of a Stars top-up is ``topup:<telegram_payment_charge_id>``."""
REFUND_STARS = "refund_stars"
"""The outbox kind that calls ``refundStarPayment``: ``{"user_id", "charge_id"}``."""


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """The operator's per-user rules (settings ``TRT_MAX_JOBS_IN_FLIGHT`` ...)."""

    max_jobs_in_flight: int = 3
    """Jobs a user may have in flight at once (admins exempt)."""
    confirms_per_min: int = 10
    """Jobs a user may confirm per minute (admins exempt)."""
    promo_misses_per_hour: int = 5
    """Wrong or expired promo codes a user may type per hour before /promo waits."""
    terms_text: str | None = None
    """/terms (None: the built-in text)."""
    paysupport_text: str | None = None
    """/paysupport (None: the built-in text)."""


def number(text: str, *, most: int = 10**15) -> int | None:
    """A positive whole number typed by an admin (ASCII digits, at most ``most``), else None:
    never a value PostgreSQL's bigint would refuse."""
    text = text.strip().lstrip("#")
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    value = int(text)
    return value if 0 < value <= most else None


# --- the audit -------------------------------------------------------------------------------


def audit(tx: Tx, admin_id: int, action: str, *, target_user: int | None = None,
          job_id: int | None = None, detail: str | None = None) -> None:
    """Record one admin action (shown on /status)."""
    tx.run("audit_add", admin_id=admin_id, action=action, target_user=target_user,
           job_id=job_id, detail=detail)


def recent_audit(tx: Tx, limit: int = 20) -> list[Row]:
    return tx.all("audit_recent", limit=limit)


# --- finding users ---------------------------------------------------------------------------


def seen(tx: Tx, user_id: int, username: str | None) -> None:
    """Remember the user's @username as last seen (for ``/user @name``)."""
    tx.run("user_seen", user_id=user_id,
           username=username[:64] if isinstance(username, str) and username else None)


def find_user(tx: Tx, query: str) -> int | None:
    """A user id from ``12345`` or ``@name`` (a known user only), else None."""
    query = query.strip()
    if (user_id := number(query)) is not None:
        return user_id if tx.one("user_get", user_id=user_id) is not None else None
    name = query.removeprefix("@")
    if not name:
        return None
    row = tx.one("user_by_username", username=name)
    return int(row["id"]) if row else None


def is_banned(tx: Tx, user_id: int) -> bool:
    row = tx.one("user_banned", user_id=user_id)
    return bool(row and row["banned"])


def set_banned(tx: Tx, admin_id: int, user_id: int, banned: bool) -> bool:
    """Ban or unban; False when it already was so (nothing written, nothing audited)."""
    ledger.ensure_user(tx, user_id)
    row = tx.one("user_ban", user_id=user_id) if banned else \
        tx.one("user_unban", user_id=user_id)
    changed = row is not None
    if changed:
        audit(tx, admin_id, "ban" if banned else "unban", target_user=user_id)
    return changed


# --- money -----------------------------------------------------------------------------------


def adjust(tx: Tx, admin_id: int, user_id: int, amount: int, reason: str,
           ref: str) -> ledger.Balance | None:
    """Add (``grant``) or take off (``debit``) credits, with the reason and the admin in the
    entry's note. None when ``ref`` was used already. Raises ``InsufficientCredits`` when a
    debit would take the balance below zero, ``NotFound`` for an unknown user."""
    kind = ledger.Entry.GRANT if amount > 0 else ledger.Entry.DEBIT
    note = f"admin {admin_id}: {reason}"
    with tx.savepoint():
        balance = ledger.apply(tx, user_id, kind, abs(amount), ref, note=note)
        if balance is not None:
            audit(tx, admin_id, "adjust", target_user=user_id, detail=f"{amount:+d}: {reason}")
    return balance


class JobRefund(enum.Enum):
    """What ``/refund <job id>`` did."""

    REFUNDED = "refunded"
    ALREADY = "already"
    """Refunded before (once per job)."""
    RELEASED = "released"
    """The job failed: its hold went back to the user when it failed; nothing more to give."""
    NOT_FINISHED = "not_finished"
    FREE = "free"
    NOT_FOUND = "not_found"


def refund_job(tx: Tx, admin_id: int, job_id: int) -> tuple[JobRefund, jobs.Job | None]:
    """Give a delivered (paid) job's price back to its owner, once per job."""
    job = jobs.load(tx, job_id)
    if job is None:
        return JobRefund.NOT_FOUND, None
    if job.state is JobState.FAILED:
        return JobRefund.RELEASED, job
    if job.state is not JobState.DELIVERED:
        return JobRefund.NOT_FINISHED, job
    if job.price == 0:
        return JobRefund.FREE, job
    balance = ledger.apply(tx, job.user_id, ledger.Entry.REFUND, job.price,
                           f"refund:job:{job.id}", job_id=job.id, note=f"by admin {admin_id}")
    if balance is None:
        return JobRefund.ALREADY, job
    audit(tx, admin_id, "refund_job", target_user=job.user_id, job_id=job.id,
          detail=f"{job.price} credits")
    return JobRefund.REFUNDED, job


@dataclass(frozen=True, slots=True)
class TopupRefund:
    """A Stars top-up refunded (or found refunded before)."""

    user_id: int
    charge_id: str
    credits: int
    """What the top-up brought."""
    reversed: int
    """Credits taken back: ``min(credits, available)`` at the refund."""
    already: bool = False


def topup_entry(tx: Tx, ident: str) -> Row | None:
    """The top-up ledger entry named by its entry id or its Telegram charge id."""
    entry_id = number(ident)
    row = tx.one("ledger_entry", id=entry_id) if entry_id is not None else \
        tx.one("ledger_by_ref", ref=TOPUP_PREFIX + ident)
    return row if row is not None and row["kind"] == ledger.Entry.TOPUP.value else None


def refund_topup(tx: Tx, admin_id: int, entry: Row) -> TopupRefund:
    """Reverse the unspent credits of a Stars top-up (see the module) and queue the
    ``refundStarPayment`` call, once per payment."""
    user_id, credits = int(entry["user_id"]), int(entry["amount"])
    charge_id = str(entry["ref"]).removeprefix(TOPUP_PREFIX)
    ref = f"reversal:{charge_id}"
    before = tx.one("ledger_by_ref", ref=ref)
    if before is not None:
        return TopupRefund(user_id, charge_id, credits, int(before["amount"]), already=True)
    # Locked until the commit: a hold of the user's own chat waits, so the balance read here
    # is the one the debit applies to (never below zero).
    row = tx.one("user_lock", user_id=user_id)
    available = int(row["available"]) if row else 0
    reversed_ = min(credits, available)
    ledger.apply(tx, user_id, ledger.Entry.REVERSAL, reversed_, ref,
                 note=f"stars refunded by admin {admin_id}: {reversed_} of {credits} "
                      "credits unspent taken back")
    outbox.add(tx, user_id, REFUND_STARS, {"user_id": user_id, "charge_id": charge_id},
               dedup_key=f"refund_stars:{charge_id}")
    audit(tx, admin_id, "refund_stars", target_user=user_id,
          detail=f"charge {charge_id}: {reversed_} of {credits} credits reversed")
    return TopupRefund(user_id, charge_id, credits, reversed_)


# --- per-user limits -------------------------------------------------------------------------


def check_confirm(tx: Tx, user_id: int, policy: AccountPolicy) -> None:
    """Raise ``UserLimitReached`` when the user may not confirm another job now."""
    row = tx.one("user_job_load", user_id=user_id, per_minute=policy.confirms_per_min) or {}
    if int(row.get("in_flight") or 0) >= policy.max_jobs_in_flight:
        raise UserLimitReached(user_id, policy.max_jobs_in_flight, "in_flight")
    if int(row.get("last_minute") or 0) >= policy.confirms_per_min:
        raise UserLimitReached(user_id, policy.confirms_per_min, "per_minute")
