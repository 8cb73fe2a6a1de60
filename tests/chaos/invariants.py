"""The promise, checked after a chaos run from the database and from what the emulators saw.

``check(outcome)`` returns a ``Report``: the counts worth printing and every violated
invariant in words (the test asserts there is none). Invariants:

1. every confirmed job exists once and ended (delivered, or failed with its hold released)
   within its model's maximum duration plus a margin;
2. each delivered job's results reached its chat exactly once — the only allowed repeats are
   sends in flight at a kill, counted in ``repeats`` — and no failed job's result did;
3. the ledger balances: one hold per job, captures = prices of delivered jobs, releases =
   holds of failed ones, no reference twice, no balance negative, nothing held at the end,
   the users table equals the ledger replayed, ``/balance`` shows the stored number, and
   no Stars refund took back more than its top-up brought (issue 14's kinds replay too);
4. no callback lost: every callback KIE got a 2xx for is in the inbox, and no orphan that its
   job could claim is left parked;
5. no job moved by a forged callback: forged ones were refused, no forged URL in any job or
   chat, and 'callback' events only for jobs that received an authentic callback;
6. no cancelled job has a KIE task created after its cancel (neither one the node recorded
   nor one the emulator made for the job's callback URL): a cancel never beats a createTask
   that has begun, so the operator never pays KIE for a result nobody gets;
7. stored callback bytes stay under the cap under a flood: parked callbacks never exceeded
   the orphan cap in rows or bytes (sampled during the flood, and at the end), a rejected or
   expired callback keeps at most 1 KB of its body, so all the flood stored is within the cap
   plus 1 KB a record; the forger was refused (429) once over the limit and nothing of a
   refused callback was stored; no callback of KIE's was refused.
8. each chat saw its messages in the order they were decided, whatever the priorities: the
   outbox rows of one chat that were sent (answers to queries aside) were settled in row
   order, and the messages they sent (edits aside) got increasing Telegram ids — a job's
   progress message before its result, its result before the "done" edit. A progress
   message deferred by ``TRT_PROGRESS_AFTER_S`` goes at its time (or never, when its job
   ended first), out of that order by design.

9.–11. never two getUpdates at once, no write under a stale lease epoch, and the kills of a
   node of several worker processes: :mod:`tests.chaos.invariants_workers`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.acceptance.harness import KIE_KEY, TOKEN
from tests.chaos import flood
from tests.chaos.harness import FORGED_HOST, Outcome
from tests.chaos.invariants_workers import check_workers
from trt_actors.catalog.model import load_catalog

MARGIN_S = 60.0
"""Seconds beyond the model's maximum duration a job may take to end (restarts included)."""
REPEATS_PER_INTERRUPTION = 5
"""Sends that may be on the wire when the node is killed (or loses its database)."""

CATALOG = load_catalog()


@dataclass
class Report:
    """What a run did and which invariants it broke."""

    profile: str
    jobs: int = 0
    delivered: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    crashes: int = 0
    pg_outages: int = 0
    repeats: int = 0
    callbacks_ok: int = 0
    callbacks_dropped: int = 0
    kie_faults: dict[str, int] = field(default_factory=dict)
    telegram_429: int = 0
    forged: dict[str, int] = field(default_factory=dict)
    cancelled: int = 0
    flood: dict[str, Any] = field(default_factory=dict)
    actor_failures: dict[str, int] = field(default_factory=dict)
    slowest_job_s: float = 0.0
    poll_overlaps: int = 0
    workers: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def line(self) -> str:
        shown = {k: v for k, v in self.__dict__.items() if k != "violations"}
        return f"CHAOS {shown} violations={len(self.violations)}"


def check(out: Outcome) -> Report:
    r = Report(out.profile.name, kills=out.kills, crashes=out.crashes,
               pg_outages=out.pg_outages, timings={k: round(v, 1) for k, v in out.timings.items()})
    jobs = out.query("SELECT id, user_id, chat_id, model_id, price, state::text AS state, "
                     "failure, result_urls, callback_token, "
                     "extract(epoch FROM finished_at - created_at) AS took FROM jobs ORDER BY id")
    r.jobs = len(jobs)
    r.delivered = sum(j["state"] == "delivered" for j in jobs)
    r.failed = dict(Counter(j["failure"] for j in jobs if j["state"] == "failed"))
    _jobs_ended(out, jobs, r)
    _sent_once(out, jobs, r)
    _ledger(out, jobs, r)
    _callbacks(out, r)
    _forgeries(out, jobs, r)
    _cancels(out, r)
    _flood(out, r)
    _chat_order(out, r)
    w = check_workers(out)
    r.poll_overlaps = w.poll_overlaps
    r.workers = {k: v for k, v in w.__dict__.items() if k not in ("poll_overlaps", "violations")}
    r.violations += w.violations
    chats = out.status.get("actors", {}).get("chats", {})
    jobs_actors = out.status.get("actors", {}).get("jobs", {})
    r.actor_failures = {"chats": chats.get("failures", -1), "jobs": jobs_actors.get("failures", -1)}
    for secret in (TOKEN, KIE_KEY):
        if secret in out.log:
            r.violations.append("a secret reached the node's log")
    return r


def _jobs_ended(out: Outcome, jobs: list[dict[str, Any]], r: Report) -> None:
    if len(jobs) != out.pressed:
        r.violations.append(f"{out.pressed} confirms made {len(jobs)} jobs")
    for job in jobs:
        if job["state"] not in ("delivered", "failed"):
            r.violations.append(f"job {job['id']} did not end: {job['state']}")
            continue
        took = float(job["took"] or 0.0)
        r.slowest_job_s = max(r.slowest_job_s, round(took, 1))
        limit = CATALOG.get(job["model_id"]).max_seconds + MARGIN_S
        if took > limit:
            r.violations.append(f"job {job['id']} took {took:.0f} s > {limit:.0f} s")


def _sent_once(out: Outcome, jobs: list[dict[str, Any]], r: Report) -> None:
    sent: Counter[tuple[int, str]] = Counter()
    for user in out.users:
        for message in out.messages[user]:
            media = message.get("media") or {}
            if media.get("url"):
                sent[(user, str(media["url"]))] += 1
    known: set[tuple[int, str]] = set()
    for job in jobs:
        urls = [(job["chat_id"], u) for u in job["result_urls"] or []]
        known.update(urls)
        if job["state"] == "delivered":
            missing = [u for u in urls if sent[u] == 0]
            if missing or not urls:
                r.violations.append(f"delivered job {job['id']} never reached its chat")
            r.repeats += sum(max(0, sent[u] - 1) for u in urls)
        elif any(sent[u] for u in urls):
            r.violations.append(f"failed job {job['id']} ({job['failure']}) was shown its result")
    stray = [key for key in sent if key not in known]
    if stray:
        r.violations.append(f"media sent that belongs to no job: {stray[:3]}")
    interruptions = out.kills + out.crashes + out.pg_outages
    if r.repeats > REPEATS_PER_INTERRUPTION * interruptions:
        r.violations.append(f"{r.repeats} results sent twice with {interruptions} interruptions")


def _ledger(out: Outcome, jobs: list[dict[str, Any]], r: Report) -> None:
    entries = out.query("SELECT user_id, kind::text AS kind, amount, ref, job_id FROM ledger")
    refs = Counter(e["ref"] for e in entries)
    if any(n > 1 for n in refs.values()):
        r.violations.append("a ledger reference was used twice")
    per_job: dict[int, Counter[str]] = defaultdict(Counter)
    for e in entries:
        if e["job_id"] is not None:
            per_job[e["job_id"]][e["kind"]] += e["amount"]
    for job in jobs:
        kinds, price = per_job[job["id"]], job["price"]
        want = {"hold": price, "capture": price if job["state"] == "delivered" else 0,
                "release": price if job["state"] == "failed" else 0}
        got = {k: kinds.get(k, 0) for k in want}
        if got != want:
            r.violations.append(f"job {job['id']} ({job['state']}) ledger {got} != {want}")
    captured = sum(e["amount"] for e in entries if e["kind"] == "capture")
    if captured != sum(j["price"] for j in jobs if j["state"] == "delivered"):
        r.violations.append("captures differ from the prices of delivered jobs")
    released = sum(e["amount"] for e in entries if e["kind"] == "release")
    if released != sum(j["price"] for j in jobs if j["state"] == "failed"):
        r.violations.append("releases differ from the holds of failed jobs")
    replay: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    deltas = {"grant": (1, 0), "topup": (1, 0), "hold": (-1, 1), "capture": (0, -1),
              "release": (1, -1), "promo": (1, 0), "refund": (1, 0), "debit": (-1, 0),
              "reversal": (-1, 0), "referral": (1, 0)}
    paid_users = {j["user_id"] for j in jobs if j["state"] == "delivered" and j["price"] > 0}
    bought = {e["ref"].removeprefix("topup:"): e["amount"] for e in entries
              if e["kind"] == "topup"}
    for e in entries:  # a Stars refund takes back at most what its top-up brought
        if e["kind"] == "reversal" and e["amount"] > bought.get(
                e["ref"].removeprefix("reversal:"), 0):
            r.violations.append(f"{e['ref']} took back more than its top-up")
    for e in entries:
        if e["kind"] == "referral" and int(e["ref"].rpartition(":")[2]) not in paid_users:
            r.violations.append(f"referral bonus {e['ref']} for an invitee with no paid "
                                "job delivered")
        d_available, d_held = deltas[e["kind"]]
        replay[e["user_id"]][0] += d_available * e["amount"]
        replay[e["user_id"]][1] += d_held * e["amount"]
    for user in out.query("SELECT id, available, held FROM users"):
        if user["available"] < 0 or user["held"] != 0:
            r.violations.append(f"user {user['id']}: available {user['available']}, "
                                f"held {user['held']} at the end")
        if [user["available"], user["held"]] != replay[user["id"]]:
            r.violations.append(f"user {user['id']}: balance differs from the ledger")
        shown = out.balances_shown.get(user["id"], user["available"])
        if shown != user["available"]:
            r.violations.append(f"user {user['id']}: /balance shows {shown}, "
                                f"stored {user['available']}")


def _callbacks(out: Outcome, r: Report) -> None:
    stats = out.kie_stats
    r.callbacks_ok = sum(bool(c["ok"]) for c in stats["callbacks"])
    r.callbacks_dropped = len(stats["callbacks_dropped"])
    r.kie_faults = dict(stats["faults_fired"])
    r.telegram_429 = int(out.telegram_stats.get("too_many_requests", 0))
    inbox = {(row["token"], bytes(row["body"]))
             for row in out.query("SELECT token, body FROM callback_inbox")}
    lost = [c for c in stats["callbacks"] if c["ok"] and
            (str(c["url"]).split("/kie/callback/", 1)[-1], str(c["body"]).encode()) not in inbox]
    if lost:
        r.violations.append(f"{len(lost)} answered callbacks are not in the inbox, e.g. "
                            f"{lost[0]['task_id']} {lost[0]['kind']}")
    claimable = out.query(
        "SELECT c.id FROM callback_inbox c WHERE c.status = 'parked' AND ("
        " EXISTS (SELECT 1 FROM jobs j WHERE c.token = j.id || '.' || j.callback_token)"
        " OR (c.token IS NULL AND EXISTS (SELECT 1 FROM kie_tasks t"
        "                                 WHERE t.task_id = c.task_id)))")
    if claimable:
        r.violations.append(f"{len(claimable)} parked callbacks whose job exists")


def _cancels(out: Outcome, r: Report) -> None:
    cancelled_at = {row["job_id"]: float(row["at"]) for row in out.query(
        "SELECT e.job_id, extract(epoch FROM e.at) AS at FROM job_events e "
        "JOIN jobs j ON j.id = e.job_id "
        "WHERE e.to_state = 'failed' AND e.cause = 'user' AND j.failure = 'cancelled'")}
    r.cancelled = len(cancelled_at)
    created: list[tuple[int, str, float]] = [
        (row["job_id"], row["task_id"], float(row["at"])) for row in out.query(
            "SELECT job_id, task_id, extract(epoch FROM created_at) AS at FROM kie_tasks")]
    for task in out.kie_stats["tasks"]:
        url = str(task.get("callback_url") or "")
        if "/kie/callback/" in url:  # <base>/kie/callback/<job id>.<secret>
            job_id = url.rsplit("/", 1)[-1].split(".", 1)[0]
            if job_id.isdigit():
                created.append((int(job_id), str(task["task_id"]), float(task["created_at"])))
    late = sorted({(job_id, task_id) for job_id, task_id, at in created
                   if job_id in cancelled_at and at >= cancelled_at[job_id]})
    if late:
        r.violations.append(f"KIE tasks created after their job was cancelled: {late[:5]}")


def _flood(out: Outcome, r: Report) -> None:
    if any(c["status"] == 429 for c in out.kie_stats["callbacks"]):
        r.violations.append("a callback of KIE's was refused (429)")
    f = out.flood
    if f is None:
        return
    answers = Counter(f"{s['kind']}:{s['status']}" for s in f.sent)
    rows = out.query(
        "SELECT source, status::text AS status, octet_length(body) AS kept FROM callback_inbox "
        f"WHERE source IN ('{flood.FORGER}', '{flood.STRANGER}')")
    stored = sum(row["kept"] for row in rows)
    r.flood = {"answers": dict(answers), "peak_rows": f.peak_rows, "peak_bytes": f.peak_bytes,
               "stored_bytes": stored, "seconds": round(f.seconds, 1)}
    end = out.query("SELECT count(*) AS n, COALESCE(sum(octet_length(body)), 0) AS bytes "
                    "FROM callback_inbox WHERE status = 'parked'")[0]
    for when, n, size in (("during", f.peak_rows, f.peak_bytes),
                          ("after", end["n"], end["bytes"])):
        if n > flood.ORPHAN_MAX_ROWS or size > flood.ORPHAN_MAX_BYTES:
            r.violations.append(f"parked callbacks {when} the flood: {n} rows, {size} bytes "
                                f"over the cap {flood.ORPHAN_MAX_ROWS} / {flood.ORPHAN_MAX_BYTES}")
    big = out.query("SELECT count(*) AS n FROM callback_inbox "
                    "WHERE status IN ('rejected', 'expired') AND octet_length(body) > 1024")
    if big[0]["n"]:
        r.violations.append(f"{big[0]['n']} rejected or expired callbacks keep over 1 KB")
    records = sum(row["status"] != "parked" for row in rows)
    if stored > flood.ORPHAN_MAX_BYTES + 1024 * records:
        r.violations.append(f"the flood stored {stored} bytes")
    forged = [s["status"] for s in f.sent if s["kind"] == "forged" and s["status"] is not None]
    heard = forged.count(403)
    # Up to CONCURRENCY - 1 more may be in flight when the limit is reached.
    if not flood.FORGED_LIMIT <= heard < flood.FORGED_LIMIT + flood.CONCURRENCY \
            or heard + forged.count(429) != len(forged):
        r.violations.append(f"the forger's answers: {Counter(forged)}")
    if sum(row["source"] == flood.FORGER for row in rows) != heard:
        r.violations.append("a refused (429) forgery was stored")
    if any(s["status"] != 200 for s in f.sent if s["kind"] == "orphan"):
        r.violations.append(f"orphans answered other than 200: {answers}")


def _forgeries(out: Outcome, jobs: list[dict[str, Any]], r: Report) -> None:
    r.forged = dict(Counter(f"{f['kind']}:{f['status']}" for f in out.forged))
    for forged in out.forged:
        status = forged["status"]
        if forged["kind"] in ("wrong_secret", "no_secret") and status is not None \
                and status < 400:
            r.violations.append(f"a {forged['kind']} callback for job {forged['job_id']} "
                                f"was answered {status}")
    if any(FORGED_HOST in str(j["result_urls"]) for j in jobs):
        r.violations.append("a job carries a forged result URL")
    authentic = {row["job_id"] for row in out.query(
        "SELECT c.job_id FROM callback_inbox c JOIN jobs j ON j.id = c.job_id "
        "WHERE c.token = j.id || '.' || j.callback_token")}
    moved = {row["job_id"] for row in out.query(
        "SELECT DISTINCT job_id FROM job_events WHERE cause = 'callback'")}
    if moved - authentic:
        r.violations.append(f"jobs moved by a callback they never got: {sorted(moved - authentic)}")


def _chat_order(out: Outcome, r: Report) -> None:
    # A deferred progress message (TRT_PROGRESS_AFTER_S: due after it was queued) goes at its
    # time, or never when its job ended first: it is out of its chat's queue order by design.
    rows = out.query(
        "SELECT id, chat_id, kind, sent_at, message_ids, payload ? 'edit_message_id' AS edit "
        "FROM outbox WHERE status = 'sent' "
        "AND kind NOT IN ('answer_callback', 'answer_precheckout') "
        "AND NOT (kind = 'status' AND not_before > created_at) ORDER BY chat_id, id")
    last: dict[int, tuple[int, Any, int]] = {}  # chat -> (row, sent_at, newest message id)
    for row in rows:
        chat = int(row["chat_id"])
        before_row, before_at, before_id = last.get(chat, (0, None, 0))
        if before_at is not None and row["sent_at"] < before_at:
            r.violations.append(f"chat {chat}: outbox {row['id']} ({row['kind']}) settled "
                                f"before outbox {before_row}, queued earlier")
        newest = before_id
        ids = [int(i) for i in row["message_ids"] or []]
        if ids and row["kind"] != "status_edit" and not row["edit"]:
            if min(ids) < before_id:
                r.violations.append(f"chat {chat}: outbox {row['id']} ({row['kind']}) shown "
                                    f"before message {before_id}, sent for an earlier row")
            newest = max(before_id, max(ids))
        last[chat] = (int(row["id"]), row["sent_at"], newest)
