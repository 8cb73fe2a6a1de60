"""The admin panel (``TRT_ADMIN_IDS`` only): inline menus, and the typed commands behind them.

``/admin`` opens the menu: find a user, today's and the week's stats, promo codes, the audit.
A user's card (``/user <id|@name>``, or any message of theirs forwarded to the bot) shows the
balance, jobs, Stars payments and ledger, with buttons to ban or unban and to refund a job or
a payment (each refund asks "yes?" first). The typed commands: ``/adjust <id> <±credits>
<reason>``, ``/ban <id>``, ``/unban <id>``, ``/refund <job id>``, ``/refund topup <payment>``
(the payment's ledger entry id, as the card shows it, or its Telegram charge id),
``/newpromo <CODE> <credits> <max uses> [days]``. Every change is audited
(``domain.admin.audit``) and shown on /status.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from trt_actors.conversation import texts
from trt_actors.conversation.desk import ADMIN_PREFIX, Desk
from trt_actors.domain import admin as admin_db
from trt_actors.domain import jobs, ledger, promo
from trt_actors.errors import InsufficientCredits, NotFound

_JOBS_SHOWN = 5
_LEDGER_SHOWN = 8
_PAYMENTS_SHOWN = 5
_AUDIT_SHOWN = 10
_BUTTONS_PER_KIND = 3

Rows = list[list[tuple[str, str]]]


def command(d: Desk, name: str, args: str) -> None:
    parts = args.split()
    match name:
        case "admin":
            menu(d)
        case "user":
            user_id = admin_db.find_user(d.tx, parts[0]) if parts else None
            if not parts:
                d.say(d.t("adm.user.usage"))
            elif user_id is None:
                d.say(d.t("adm.user.unknown", query=parts[0][:64]))
            else:
                card(d, user_id)
        case "adjust":
            _adjust(d, parts)
        case "ban" | "unban":
            target = _user_id(parts[0]) if len(parts) == 1 else None
            if target is None:
                d.say(d.t("adm.usage.ban"))
            else:
                _ban(d, target, name == "ban")
        case "refund":
            if len(parts) == 2 and parts[0].lower() == "topup":
                _refund_topup(d, parts[1], confirmed=True)
            elif len(parts) == 1 and (job_id := admin_db.number(parts[0])) is not None:
                _refund_job(d, job_id, confirmed=True)
            else:
                d.say(d.t("adm.usage.refund"))
        case "newpromo":
            _new_promo(d, parts)


def press(d: Desk, data: str) -> None:
    """A panel button: ``<verb>[:<arg>]`` (the ``adm:`` prefix removed)."""
    verb, _, arg = data.partition(":")
    match verb, admin_db.number(arg):
        case "menu", _:
            menu(d, replace=True)
        case "find", _:
            d.say(d.t("adm.find"))
        case "stats", (1 | 7) as days:
            stats(d, days)
        case "promo", _:
            d.say(d.t("adm.promo_help"))
        case "audit", _:
            audit(d)
        case "user", int(user_id):
            card(d, user_id, replace=True)
        case "ban" | "unban", int(user_id):
            _ban(d, user_id, verb == "ban")
            card(d, user_id, replace=True)
        case "rj" | "rjy", int(job_id):
            _refund_job(d, job_id, confirmed=verb == "rjy")
        case "rs" | "rsy", int(entry_id):
            _refund_topup(d, str(entry_id), confirmed=verb == "rsy")
        case _:
            d.say(texts.menu_expired(d.lang))


def forwarded(d: Desk, message: dict[str, Any]) -> None:
    """A message an admin forwarded: the card of the user who wrote it."""
    origin = message.get("forward_origin")
    sender = (origin.get("sender_user") if isinstance(origin, dict) else None) \
        or message.get("forward_from")
    user_id = sender.get("id") if isinstance(sender, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id < 2**62:
        d.say(d.t("adm.user.hidden"))
    elif d.tx.one("user_get", user_id=user_id) is None:
        d.say(d.t("adm.user.unknown", query=str(user_id)))
    else:
        card(d, user_id)


def menu(d: Desk, *, replace: bool = False) -> None:
    rows: Rows = [
        [(d.t("adm.btn.find"), f"{ADMIN_PREFIX}find")],
        [(d.t("adm.btn.today"), f"{ADMIN_PREFIX}stats:1"),
         (d.t("adm.btn.week"), f"{ADMIN_PREFIX}stats:7")],
        [(d.t("adm.btn.promo"), f"{ADMIN_PREFIX}promo"),
         (d.t("adm.btn.audit"), f"{ADMIN_PREFIX}audit")],
    ]
    d.say(d.t("adm.title"), rows, replace=replace)


# --- a user's card ---------------------------------------------------------------------------


def card(d: Desk, user_id: int, *, replace: bool = False) -> None:
    row = d.tx.one("user_card", user_id=user_id)
    if row is None:
        d.say(d.t("adm.user.unknown", query=str(user_id)))
        return
    lines = [d.t("adm.user.card", user=user_id,
                 name=f" @{row['username']}" if row["username"] else "",
                 language=row["language"] or "?", since=_day(row["created_at"]),
                 banned=d.t("adm.user.banned") if row["banned_at"] else "",
                 available=d.credits(row["available"]), held=d.credits(row["held"]),
                 bought=d.credits(row["bought"]), jobs=row["jobs"])]
    rows: Rows = []
    refundable_jobs: list[int] = []
    jobs = d.tx.all("jobs_of_user", user_id=user_id, limit=_JOBS_SHOWN)
    if jobs:
        lines += ["", d.t("adm.user.jobs")]
        for j in jobs:
            lines.append(f"#{j['id']} · {j['model_id']} · {j['state']}"
                         f"{' (' + j['failure'] + ')' if j['failure'] else ''}"
                         f" · {j['price']} · {_when(j['created_at'])}")
            if j["state"] == "delivered" and j["price"] > 0:
                refundable_jobs.append(int(j["id"]))
    topups = d.tx.all("user_topups", user_id=user_id, limit=_PAYMENTS_SHOWN)
    refundable_topups: list[int] = []
    if topups:
        lines += ["", d.t("adm.user.payments")]
        for p in topups:
            done = "" if p["reversed"] is None else f" · ↩️ -{p['reversed']}"
            lines.append(f"{p['id']} · +{p['amount']} · {_when(p['created_at'])}"
                         f" · {str(p['ref']).removeprefix(admin_db.TOPUP_PREFIX)}{done}")
            if p["reversed"] is None:
                refundable_topups.append(int(p["id"]))
    entries = d.tx.all("ledger_recent", user_id=user_id, limit=_LEDGER_SHOWN)
    if entries:
        lines += ["", d.t("adm.user.ledger")]
        lines += [f"{e['kind']} {e['amount']} · {e['ref']}{' · ' + e['note'] if e['note'] else ''}"
                  for e in entries]
    ban = ("unban", "adm.btn.unban") if row["banned_at"] else ("ban", "adm.btn.ban")
    rows.append([(d.t(ban[1]), f"{ADMIN_PREFIX}{ban[0]}:{user_id}"),
                 (d.t("adm.btn.refresh"), f"{ADMIN_PREFIX}user:{user_id}")])
    rows += [[(d.t("adm.btn.refund_job", job=j), f"{ADMIN_PREFIX}rj:{j}")]
             for j in refundable_jobs[:_BUTTONS_PER_KIND]]
    rows += [[(d.t("adm.btn.refund_topup", entry=e), f"{ADMIN_PREFIX}rs:{e}")]
             for e in refundable_topups[:_BUTTONS_PER_KIND]]
    rows.append([(d.t("adm.btn.back"), f"{ADMIN_PREFIX}menu")])
    d.say("\n".join(lines), rows, replace=replace)


def _day(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d")


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%m-%d %H:%M")


def _user_id(text: str) -> int | None:
    return admin_db.number(text)


# --- actions ---------------------------------------------------------------------------------


def _adjust(d: Desk, parts: list[str]) -> None:
    target = _user_id(parts[0]) if parts else None
    text = parts[1] if len(parts) >= 2 else ""
    size = admin_db.number(text[1:] if text[:1] in ("+", "-") else text, most=10**9) or 0
    amount = -size if text.startswith("-") else size
    reason = " ".join(parts[2:])[:200]
    if target is None or amount == 0 or not reason:
        d.say(d.t("adm.usage.adjust"))
        return
    try:
        balance = admin_db.adjust(d.tx, d.user_id, target, amount, reason,
                                  f"adjust:update:{d.update_id}")
    except InsufficientCredits:
        available = ledger.balance(d.tx, target).available
        d.say(d.t("adm.adjust_short", user=target, balance=d.credits(available)))
        return
    except NotFound:
        d.say(d.t("adm.user.unknown", query=str(target)))
        return
    now = balance.available if balance else ledger.balance(d.tx, target).available
    d.say(d.t("adm.adjusted", user=target, amount=f"{amount:+d}", reason=reason,
              balance=d.credits(now)))
    if balance is not None:
        d.notify(target, "user.adjusted", amount=f"{amount:+d}", reason=reason, balance=now)


def _ban(d: Desk, target: int, banned: bool) -> None:
    if target in d.admin_ids:
        d.say(d.t("adm.ban_admin"))
        return
    changed = admin_db.set_banned(d.tx, d.user_id, target, banned)
    key = ("adm.banned" if changed else "adm.already_banned") if banned else \
        ("adm.unbanned" if changed else "adm.not_banned")
    d.say(d.t(key, user=target))


def _refund_job(d: Desk, job_id: int, *, confirmed: bool) -> None:
    if not confirmed:
        job = jobs.load(d.tx, job_id)
        if job is None:
            d.say(d.t("adm.refund.not_found", what=f"#{job_id}"))
            return
        d.say(d.t("adm.refund.confirm_job", job=job_id, credits=d.credits(job.price),
                  user=job.user_id),
              [[(d.t("adm.btn.yes"), f"{ADMIN_PREFIX}rjy:{job_id}"),
                (d.t("adm.btn.back"), f"{ADMIN_PREFIX}user:{job.user_id}")]])
        return
    outcome, job = admin_db.refund_job(d.tx, d.user_id, job_id)
    if outcome is admin_db.JobRefund.NOT_FOUND or job is None:
        d.say(d.t("adm.refund.not_found", what=f"#{job_id}"))
        return
    d.say(d.t(f"adm.refund.{outcome.value}", job=job_id, credits=d.credits(job.price),
              user=job.user_id))
    if outcome is admin_db.JobRefund.REFUNDED:
        d.notify(job.user_id, "user.job_refunded", job=job_id, credits=job.price)


def _refund_topup(d: Desk, ident: str, *, confirmed: bool) -> None:
    entry = admin_db.topup_entry(d.tx, ident[:128])
    if entry is None:
        d.say(d.t("adm.refund.not_found", what=ident[:64]))
        return
    if not confirmed:
        d.say(d.t("adm.refund.confirm_topup", entry=entry["id"], user=entry["user_id"],
                  credits=d.credits(entry["amount"])),
              [[(d.t("adm.btn.yes"), f"{ADMIN_PREFIX}rsy:{entry['id']}"),
                (d.t("adm.btn.back"), f"{ADMIN_PREFIX}user:{entry['user_id']}")]])
        return
    done = admin_db.refund_topup(d.tx, d.user_id, entry)
    key = "adm.refund.stars_already" if done.already else "adm.refund.stars"
    d.say(d.t(key, entry=entry["id"], user=done.user_id, reversed=done.reversed,
              credits=done.credits))
    if not done.already:
        d.notify(done.user_id, "user.stars_refunded", reversed=done.reversed)


def _new_promo(d: Desk, parts: list[str]) -> None:
    code = promo.normalise(parts[0]) if parts else None
    numbers = [admin_db.number(p, most=10**9) or 0 for p in parts[1:4]]
    if code is None or len(parts) not in (3, 4) or min(numbers) <= 0 \
            or (len(numbers) == 3 and numbers[2] > 3650):
        d.say(d.t("adm.usage.newpromo"))
        return
    credits, uses = numbers[0], numbers[1]
    days = numbers[2] if len(numbers) == 3 else None
    created, expires = promo.create(d.tx, d.user_id, code, credits, uses, days)
    if not created:
        d.say(d.t("adm.promo.exists", code=code))
        return
    d.say(d.t("adm.promo.created", code=code, credits=d.credits(credits), uses=uses,
              expires=_when(expires) + " UTC" if expires else d.t("adm.promo.never")))


# --- stats and audit -------------------------------------------------------------------------


def stats(d: Desk, days: int) -> None:
    """Today's (since 00:00 UTC) or the last ``days`` days' numbers."""
    now = datetime.now(UTC)
    since = now.replace(hour=0, minute=0, second=0, microsecond=0) if days <= 1 \
        else now - timedelta(days=days)
    money = d.tx.one("admin_stats", since=since) or {}
    by_state: dict[str, int] = {}
    by_model: dict[str, dict[str, int]] = {}
    kie = 0.0
    for r in d.tx.all("admin_stats_jobs", since=since):
        by_state[r["state"]] = by_state.get(r["state"], 0) + r["n"]
        by_model.setdefault(r["model_id"], {})[r["state"]] = r["n"]
        spec = d.catalog.models.get(r["model_id"])
        if spec is not None and r["state"] == "delivered":
            cost = spec.kie_credits
            kie += r["n"] * float(min(cost.values()) if isinstance(cost, dict) else cost)
    delivered, failed = by_state.get("delivered", 0), by_state.get("failed", 0)
    ended = delivered + failed
    lines = [d.t("adm.stats.today" if days <= 1 else "adm.stats.week"), d.t(
        "adm.stats.body", new=money.get("new_users", 0), active=money.get("active_users", 0),
        jobs=sum(by_state.values()), delivered=delivered, failed=failed,
        in_flight=sum(by_state.values()) - ended,
        rate=f"{100.0 * failed / ended:.1f}%" if ended else "—",
        sold=money.get("credits_sold", 0), spent=money.get("credits_spent", 0),
        promo=money.get("credits_promo", 0), kie=f"{kie:g}")]
    if by_model:
        lines += ["", d.t("adm.stats.models")]
        lines += [f"• {m}: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
                  for m, states in sorted(by_model.items())]
    d.say("\n".join(lines), [[(d.t("adm.btn.back"), f"{ADMIN_PREFIX}menu")]])


def audit(d: Desk) -> None:
    rows = admin_db.recent_audit(d.tx, _AUDIT_SHOWN)
    if not rows:
        d.say(d.t("adm.audit.empty"))
        return
    lines = [d.t("adm.audit.title")]
    for r in rows:
        target = f" → {r['target_user']}" if r["target_user"] is not None else ""
        job = f" #{r['job_id']}" if r["job_id"] is not None else ""
        lines.append(f"{_when(r['at'])} · {r['admin_id']} · {r['action']}{target}{job}"
                     f"{': ' + r['detail'] if r['detail'] else ''}")
    d.say("\n".join(lines), [[(d.t("adm.btn.back"), f"{ADMIN_PREFIX}menu")]])
