"""Issue 14, growth, through the real store and the real chat actors: referrals bound once and
paid once under races, broadcasts chosen, paced behind other messages and resumable, alerts
pushed to admins once, rate-limited and cleared.

Real PostgreSQL, real chat and job actors (``tests.support.chat_harness``); the broadcaster
and the alert pusher are the node's own classes, driven one look at a time.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator

import pytest

from tests.support.chat_harness import ADMIN, CATALOG, ChatHarness
from trt_actors.actors.alert_pusher import AlertPolicy, AlertPusher, supervisor_gave_up
from trt_actors.actors.broadcaster import Broadcaster, BroadcastPolicy
from trt_actors.actors.chat_rules import BOT_USERNAME_KEY
from trt_actors.actors.ticker import Ticker
from trt_actors.domain import broadcast, jobs, ledger, outbox, referrals
from trt_actors.domain.alerts import Alerts
from trt_actors.domain.states import Cause, Failure, JobState
from trt_actors.errors import KieAuthError
from trt_actors.infra.store import Store, jsonb

BONUS = 10
INVITER = 1001


@pytest.fixture
def harness(store: Store) -> Iterator[ChatHarness]:
    h = ChatHarness(store)
    h.messages.referral_credits = BONUS
    store.run("state_set", key=BOT_USERNAME_KEY, value=jsonb("trt_test_bot"))
    try:
        yield h
    finally:
        h.close()


def say(h: ChatHarness, user: int, text: str) -> list[str]:
    update = h.send(user, text)
    h.handled(update)
    return h.replies_to(update)


def inviter_of(h: ChatHarness, user: int) -> int | None:
    rows = h.sql("SELECT inviter FROM referrals WHERE invitee = %(u)s", u=user)
    return int(rows[0]["inviter"]) if rows else None


def bonuses(store: Store, user: int) -> list[str]:
    return [e["ref"] for e in store.all("ledger_entries", user_id=user)
            if e["kind"] == "referral"]


def succeeded(store: Store, user: int) -> jobs.Job:
    """A paid job of ``user`` whose result is being sent (held, SUCCEEDED → DELIVERING)."""
    model = CATALOG.models["google/nano-banana"]
    job, _ = jobs.confirm(store, jobs.NewJob(
        user_id=user, chat_id=user, model_id=model.id, family=model.family, input={},
        price=4, free=False, expected_seconds=10, max_seconds=300,
        idempotency_key=uuid.uuid4().hex))
    moved: jobs.Job | None = job
    with store.transaction() as tx:
        for to in (JobState.SUBMITTING, JobState.RUNNING, JobState.SUCCEEDED,
                   JobState.DELIVERING):
            moved = jobs.move(tx, job.id, to, Cause.CALLBACK, result_urls=("https://x/a.png",))
            assert moved is not None
    assert moved is not None
    return moved


def deliver_at_once(h: ChatHarness, batch: list[jobs.Job]) -> None:
    """Deliver the jobs from one thread each, released together (as delivery's pool does)."""
    gate = threading.Barrier(len(batch))
    errors: list[BaseException] = []

    def one(job: jobs.Job) -> None:
        try:
            gate.wait(5)
            with h.store.transaction() as tx:
                done = jobs.move(tx, job.id, JobState.DELIVERED, Cause.DELIVERY)
                assert done is not None
                h.messages.delivered(tx, done)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(job,)) for job in batch]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors, errors


# --- referrals -------------------------------------------------------------------------------


def test_invite_shows_the_deep_link_and_a_new_user_through_it_is_bound_once(
    harness: ChatHarness,
) -> None:
    code = referrals.code_of(INVITER)
    say(harness, INVITER, "/start")
    (shown,) = say(harness, INVITER, "/invite")
    assert f"https://t.me/trt_test_bot?start=ref_{code}" in shown
    assert "Invited: 0 · with a paid result: 0" in shown
    replies = say(harness, 1002, f"/start ref_{code}")
    assert any("🤝 You joined through a friend's invitation." in r for r in replies), replies
    assert inviter_of(harness, 1002) == INVITER
    # Bound once: another link later changes nothing.
    say(harness, 1003, "/start")
    say(harness, 1002, f"/start ref_{referrals.code_of(1003)}")
    assert inviter_of(harness, 1002) == INVITER
    # An existing user is never bound; nobody to themselves; no loop back to an invitee.
    say(harness, INVITER, f"/start ref_{referrals.code_of(1002)}")
    assert inviter_of(harness, INVITER) is None
    say(harness, 1004, f"/start ref_{referrals.code_of(1004)}")
    assert inviter_of(harness, 1004) is None
    say(harness, 1005, "/start ref_zzzzzzzzzzzzzzzzzzzz")  # not a code
    assert inviter_of(harness, 1005) is None
    assert "Invited: 1 · with a paid result: 0" in say(harness, INVITER, "/invite")[0]


def test_the_inviter_is_paid_once_per_invitee_when_paid_jobs_race(harness: ChatHarness) -> None:
    code = referrals.code_of(INVITER)
    say(harness, INVITER, "/start")
    say(harness, 1102, f"/start ref_{code}")
    say(harness, 1103, f"/start ref_{code}")
    start = ledger.balance(harness.store, INVITER).available
    # A free job earns nothing (fake accounts get free generations too).
    free = dataclasses.replace(succeeded(harness.store, 1102), free=True, price=0)
    with harness.store.transaction() as tx:
        harness.messages.delivered(tx, free)
    assert bonuses(harness.store, INVITER) == []
    # Two paid jobs of one invitee, and one of the other, delivered at the same instant.
    deliver_at_once(harness, [succeeded(harness.store, 1102), succeeded(harness.store, 1102),
                              succeeded(harness.store, 1103)])
    assert sorted(bonuses(harness.store, INVITER)) == ["referral:1102", "referral:1103"]
    assert ledger.balance(harness.store, INVITER).available == start + 2 * BONUS
    told = [t for t in harness.texts(INVITER) if "first paid result" in t]
    assert len(told) == 2
    # Later deliveries pay nothing more.
    deliver_at_once(harness, [succeeded(harness.store, 1102)])
    assert len(bonuses(harness.store, INVITER)) == 2
    assert "Invited: 2 · with a paid result: 2" in say(harness, INVITER, "/invite")[0]


# --- broadcasts ------------------------------------------------------------------------------


def _broadcaster(store: Store) -> Broadcaster:
    return Broadcaster(store, Ticker(), lambda: None,
                       BroadcastPolicy(per_second=1000.0, open_max=5))


def _settle_open(store: Store, status: str = "sent") -> int:
    with store.transaction() as tx:
        return len(tx.raw("UPDATE outbox SET status = %(s)s, sent_at = now() "
                          "WHERE kind = 'broadcast' AND status = 'pending' RETURNING id",
                          {"s": status}))


def test_a_broadcast_goes_once_to_everyone_not_opted_out_blocked_or_banned(
    harness: ChatHarness,
) -> None:
    store = harness.store
    harness.sql("INSERT INTO users (id) SELECT generate_series(2000, 2039)")
    say(harness, 2001, "/stop")
    broadcast.blocked(store, 2002)
    harness.sql("UPDATE users SET banned_at = now() WHERE id = 2003")
    say(harness, 2004, "/stop")
    say(harness, 2004, "/start")  # back in
    assert "Send the announcement" in say(harness, ADMIN, "/broadcast")[-1]
    update = harness.send(ADMIN, "🎉 Veo 3.1 is here")
    harness.handled(update)
    send = harness.confirm_button(update)
    harness.handled(harness.press(ADMIN, send))
    harness.handled(harness.press(ADMIN, send))  # a double tap starts nothing new
    (row,) = broadcast.running(store)
    # 40 users + the admin; minus /stop, blocked and banned.
    assert row["total"] == 41 - 3
    pump = _broadcaster(store)
    # Results first: while another message is due, no broadcast row is queued.
    with store.transaction() as tx:
        outbox.add(tx, 2010, "text", {"text": "your result"})
    assert pump.pump() == 0
    harness.sql("UPDATE outbox SET status = 'sent' WHERE kind <> 'broadcast'")
    queued = 0
    for _ in range(40):
        n = pump.pump()
        assert n <= 5  # never more than open_max rows open
        queued += n
        _settle_open(store)
    assert queued == 38
    copies = harness.sql("SELECT chat_id, count(*) AS n FROM outbox WHERE kind = 'broadcast' "
                         "GROUP BY chat_id")
    assert all(c["n"] == 1 for c in copies) and len(copies) == 38
    assert {2001, 2002, 2003}.isdisjoint({c["chat_id"] for c in copies})
    assert 2004 in {c["chat_id"] for c in copies}
    assert broadcast.running(store) == []
    edits = [r["payload"]["text"] for r in harness.sql(
        "SELECT payload FROM outbox WHERE chat_id = %(a)s AND kind = 'status_edit' ORDER BY id",
        a=ADMIN)]
    assert edits[-1].endswith("done: sent 38, blocked 0, left 0 (of 38).")


def test_a_restarted_broadcaster_resumes_without_queuing_anyone_twice(
    harness: ChatHarness,
) -> None:
    store = harness.store
    harness.sql("INSERT INTO users (id) SELECT generate_series(3000, 3019)")
    with store.transaction() as tx:
        started = broadcast.create(tx, admin_id=ADMIN, chat_id=ADMIN, payload={"text": "hi"},
                                   dedup_key="bc:test", progress_text=lambda i, p: f"{p}")
    assert started is not None and started[1] == 20
    harness.sql("UPDATE outbox SET status = 'sent'")  # the admin's progress message
    first = _broadcaster(store)
    assert first.pump() == 5
    _settle_open(store, "failed")  # those chats refused the bot
    # "kill -9": a new broadcaster (nothing in memory) picks up where the database says.
    second = _broadcaster(store)
    while broadcast.running(store):
        second.pump()
        _settle_open(store)
    n = harness.sql("SELECT count(*) AS n, count(DISTINCT chat_id) AS d FROM outbox "
                    "WHERE kind = 'broadcast'")[0]
    assert (n["n"], n["d"]) == (20, 20)
    assert broadcast.progress(store, started[0], 20) == broadcast.Progress(20, 15, 5, 0)


# --- alerts ----------------------------------------------------------------------------------


class Credits:
    def __init__(self) -> None:
        self.value: float | BaseException = 1000.0

    def __call__(self) -> float:
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


def _pusher(store: Store, alerts: Alerts, credits: Credits, min_interval: float) -> AlertPusher:
    return AlertPusher(store, Ticker(), alerts, {ADMIN, 901}, lambda: None, AlertPolicy(
        min_interval=min_interval, kie_credits_below=100, kie_credits_every=0),
        kie_credits=credits)


def _told(store: Store, admin: int) -> list[str]:
    """The alert lines queued for an admin's chat."""
    with store.transaction() as tx:
        rows = tx.raw("SELECT payload FROM outbox WHERE chat_id = %(a)s AND dedup_key LIKE "
                      "'alert:%%' ORDER BY id", {"a": admin})
    return [str(r["payload"]["text"]) for r in rows]


def test_alerts_reach_every_admin_once_and_clear_with_a_message(store: Store) -> None:
    alerts, credits = Alerts(), Credits()
    pusher = _pusher(store, alerts, credits, min_interval=0)
    assert pusher.look() == []
    alerts.raise_("kie_account", "KIE refused the account (402): top up")
    credits.value = 12.0
    assert sorted(pusher.look()) == ["kie_account", "kie_credits"]
    assert pusher.look() == []  # still up: told once
    for admin in (ADMIN, 901):
        told = _told(store, admin)
        assert "🚨 Alert: KIE refused the account (402): top up" in told
        assert any(t.startswith("🚨 Alert: KIE credit balance is 12, under 100") for t in told)
    alerts.clear("kie_account")
    credits.value = KieAuthError("invalid key", code=401)
    assert sorted(pusher.look()) == ["kie_account", "kie_credits", "kie_key"]
    told = _told(store, ADMIN)
    assert "✅ Cleared: KIE refused the account (402): top up" in told
    assert any(t.startswith("🚨 Alert: KIE refuses the API key") for t in told)
    assert len(told) == 5 and len(_told(store, 901)) == 5


def test_a_flapping_alert_is_told_at_most_once_per_interval(store: Store) -> None:
    alerts, credits = Alerts(), Credits()
    pusher = _pusher(store, alerts, credits, min_interval=3600)
    alerts.raise_("orphan_cap", "parked orphans over the cap")
    assert pusher.look() == ["orphan_cap"]
    for _ in range(3):  # comes and goes within the interval: nothing more is pushed
        alerts.clear("orphan_cap")
        assert pusher.look() == []
        alerts.raise_("orphan_cap", "parked orphans over the cap")
        assert pusher.look() == []
    assert len(_told(store, ADMIN)) == 1


def test_a_model_failing_over_the_window_and_poison_updates_are_alerts(store: Store) -> None:
    alerts, credits = Alerts(), Credits()
    pusher = _pusher(store, alerts, credits, min_interval=0)
    ledger.grant(store, 77, 100, "grant:77")
    for _ in range(6):
        job = succeeded(store, 77)
        with store.transaction() as tx:
            jobs.move(tx, job.id, JobState.FAILED, Cause.DELIVERY, failure=Failure.KIE_FAILED)
    with store.transaction() as tx:
        tx.raw("INSERT INTO telegram_updates (bot_id, telegram_update_id, chat_id, payload, "
               "poison_at) VALUES (1, 1, 5, '{}', now())")
    keys = pusher.look()
    assert "model_failures:google/nano-banana" in keys and "poison_updates" in keys
    told = _told(store, ADMIN)
    assert any("google/nano-banana: 6 of 6 jobs failed" in t for t in told)


def test_a_delivery_backlog_is_an_alert_and_clears_when_it_drains(store: Store) -> None:
    pusher = _pusher(store, Alerts(), Credits(), min_interval=0)
    with store.transaction() as tx:
        tx.raw("INSERT INTO outbox (chat_id, kind, payload, created_at) "
               "VALUES (5, 'text', '{\"text\": \"x\"}', now() - interval '10 minutes')")
    assert pusher.look() == ["delivery_backlog"]
    assert "the oldest for 600 s" in _told(store, ADMIN)[0]
    with store.transaction() as tx:
        tx.raw("UPDATE outbox SET status = 'sent' WHERE chat_id = 5")
    assert pusher.look() == ["delivery_backlog"]
    assert _told(store, ADMIN)[-1].startswith("✅ Cleared: delivery backlog")


def test_a_supervisor_giving_up_is_told_at_once_and_cleared_at_the_next_start(
    store: Store,
) -> None:
    supervisor_gave_up(store, {ADMIN}, "child 'delivery' failed 11 times in 60 s")
    (raised,) = _told(store, ADMIN)
    assert raised.startswith("🚨 Alert: the supervisor gave up (child 'delivery' failed")
    # The next run's pusher does not see the condition: it clears, with a message.
    pusher = _pusher(store, Alerts(), Credits(), min_interval=0)
    assert pusher.look() == ["supervisor"]
    assert _told(store, ADMIN)[-1].startswith("✅ Cleared: the supervisor gave up")
