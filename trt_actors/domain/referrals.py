"""Referrals: an inviter's deep link, the binding of a new user to it, and the bonus.

The link is ``t.me/<bot>?start=ref_<code>``, the code the inviter's user id in base 36 (short,
no table). A user is bound to an inviter once, and only in the update that created the user
(``referral_bind``: the invitee is the primary key; never to themselves; never to someone they
invited, so no loops). The inviter is paid ``TRT_REFERRAL_CREDITS`` when the invitee's first
*paid* job is delivered — not at sign-up, so fake accounts earn nothing — in the transaction
of that delivery: the guarded ``referral_pay`` UPDATE (``paid_job_id IS NULL``) lets exactly
one delivery win even when two of the invitee's jobs are delivered at once, and the ledger
reference ``referral:<invitee>`` could not be used twice anyway.
"""

from __future__ import annotations

import string
from collections.abc import Callable

from trt_actors.domain import ledger, outbox
from trt_actors.domain.jobs import Job
from trt_actors.infra.store import Store, Tx

PREFIX = "ref_"
"""The /start payload of a referral link: ``ref_<code>``."""
_DIGITS = string.digits + string.ascii_lowercase


def code_of(user_id: int) -> str:
    """The user's referral code (their id in base 36)."""
    n, out = user_id, ""
    while True:
        n, d = divmod(n, 36)
        out = _DIGITS[d] + out
        if n == 0:
            return out


def user_of(code: str) -> int | None:
    """The inviter a code names; None when it is not a code."""
    code = code.strip().lower()
    if not code or len(code) > 13 or any(c not in _DIGITS for c in code):
        return None
    user_id = int(code, 36)
    return user_id if user_id > 0 else None


def link(bot_username: str | None, user_id: int) -> str | None:
    """``https://t.me/<bot>?start=ref_<code>``; None while the bot's username is unknown."""
    if not bot_username:
        return None
    return f"https://t.me/{bot_username}?start={PREFIX}{code_of(user_id)}"


def bind(tx: Tx, invitee: int, start_payload: str) -> int | None:
    """Bind a user created in this update to the inviter its /start payload names; the
    inviter, or None (no referral payload, unknown inviter, self, a loop, already bound)."""
    payload = start_payload.strip()
    if not payload.startswith(PREFIX):
        return None
    inviter = user_of(payload.removeprefix(PREFIX))
    if inviter is None or inviter == invitee:
        return None
    row = tx.one("referral_bind", invitee=invitee, inviter=inviter)
    return int(row["inviter"]) if row else None


def pay(tx: Tx, job: Job, credits: int,
        notice: Callable[[int], str] | None = None) -> int | None:
    """In the transaction that moved ``job`` to DELIVERED: pay the invitee's inviter once, for
    the first paid job. The inviter paid now, or None. ``notice(inviter)`` is the text the
    inviter is told (in the same transaction)."""
    if credits <= 0 or job.price <= 0 or job.free:
        return None
    row = tx.one("referral_pay", user_id=job.user_id, job_id=job.id)
    if row is None:
        return None  # not invited, or paid already
    inviter = int(row["inviter"])
    ledger.apply(tx, inviter, ledger.Entry.REFERRAL, credits, f"referral:{job.user_id}",
                 job_id=None, note=f"invitee {job.user_id}, job {job.id}")
    if notice:
        outbox.add(tx, inviter, "text", {"text": notice(inviter)},
                   dedup_key=f"referral:{job.user_id}")
    return inviter


def counts(store: Store | Tx, user_id: int) -> tuple[int, int]:
    """(users invited, of them with a paid job delivered)."""
    row = store.one("referral_counts", user_id=user_id)
    return (int(row["invited"]), int(row["paid"])) if row else (0, 0)
