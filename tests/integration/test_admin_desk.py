"""Issue 14, the admin's side through the real chat actors and PostgreSQL: promo codes under a
race, the admin panel's finds, adjusts, bans and refunds (audited), Stars refunds that take
back only unspent credits, /paysupport and /terms, and the per-user limits at confirm.

Replies are read from the outbox, as the delivery actor would send them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.chat_harness import ADMIN, CATALOG, ChatHarness, ChatOptions
from tests.support.waiting import wait_until
from trt_actors.conversation.commands import gen_command
from trt_actors.domain import jobs, ledger, promo
from trt_actors.domain.admin import AccountPolicy
from trt_actors.domain.states import Cause, Failure, JobState
from trt_actors.infra.store import Store

USER = 501
OTHER = 502


@pytest.fixture
def harness(store: Store, request: pytest.FixtureRequest) -> Iterator[ChatHarness]:
    h = ChatHarness(store, getattr(request, "param", None) or ChatOptions())
    try:
        yield h
    finally:
        h.close()


def ask(h: ChatHarness, user: int, text: str) -> list[str]:
    """``user`` sends ``text``; the replies of its handling."""
    update = h.send(user, text)
    h.handled(update)
    return replies(h, update)


def replies(h: ChatHarness, update: int) -> list[str]:
    """What the handling of ``update`` answered (a new user's welcome grant left out)."""
    rows = h.sql("SELECT payload FROM outbox WHERE kind = 'text' AND dedup_key LIKE %(k)s "
                 "AND dedup_key NOT LIKE '%%:welcome' ORDER BY id", k=f"upd:{update}:%")
    return [str(r["payload"]["text"]) for r in rows]


def one(h: ChatHarness, query: str, **params: Any) -> Any:
    return next(iter(h.sql(query, **params)[0].values()))


def available(h: ChatHarness, user: int) -> int:
    return int(one(h, "SELECT available FROM users WHERE id = %(u)s", u=user))


def paid_job(h: ChatHarness, user: int, model_id: str = "google/nano-banana") -> int:
    """A paid job of ``user`` confirmed through the chat, waiting at KIE (submitted)."""
    model = CATALOG.get(model_id)
    screen = h.send(user, gen_command(model, model.example))
    h.handled(screen)
    h.handled(h.press(user, h.confirm_button(screen)))
    job_id = int(one(h, "SELECT max(id) FROM jobs WHERE user_id = %(u)s", u=user))
    wait_until(lambda: state(h, job_id) is JobState.SUBMITTED, 10, f"job {job_id} submitted")
    return job_id


def state(h: ChatHarness, job_id: int) -> JobState | None:
    job = jobs.load(h.store, job_id)
    return job.state if job else None


def deliver(h: ChatHarness, job_id: int) -> None:
    """KIE's result arrived and was sent (the moves the job and delivery actors make)."""
    with h.store.transaction() as tx:
        for step in (JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED):
            jobs.move(tx, job_id, step, Cause.OPERATOR)


# --- promo codes -------------------------------------------------------------------------------


def test_fifty_users_redeeming_a_code_with_ten_uses_at_once_get_exactly_ten(
        harness: ChatHarness) -> None:
    h = harness
    assert "SPRING" in ask(h, ADMIN, "/newpromo SPRING 15 10")[0]
    users = range(1001, 1051)
    updates = [h.send(u, "/promo spring") for u in users]  # 50 chat actors at once
    for update in updates:
        h.handled(update, timeout=60)
    answers = [replies(h, u)[-1] for u in updates]
    assert sum("redeemed" in r for r in answers) == 10, answers
    assert sum("used up" in r for r in answers) == 40, answers
    assert one(h, "SELECT uses FROM promo_codes WHERE code = 'SPRING'") == 10
    assert one(h, "SELECT count(*) FROM ledger WHERE kind = 'promo'") == 10
    balances = sorted(available(h, u) for u in users)
    assert balances == [20] * 40 + [35] * 10  # the welcome grant, plus 15 for ten of them


def test_redemptions_racing_in_the_store_never_pass_max_uses(store: Store) -> None:
    with store.transaction() as tx:
        promo.create(tx, ADMIN, "RACE", 5, 10, None)
    for u in range(2001, 2051):
        ledger.grant(store, u, 1, f"seed:{u}")
    start = threading.Barrier(50)

    def redeem(user: int) -> promo.Redeemed:
        start.wait()
        with store.transaction() as tx:
            return promo.redeem(tx, user, "race", misses_per_hour=5).outcome

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(redeem, range(2001, 2051)))
    assert outcomes.count(promo.Redeemed.OK) == 10
    assert outcomes.count(promo.Redeemed.USED_UP) == 40
    with store.transaction() as tx:
        assert tx.raw("SELECT count(*) AS n FROM ledger WHERE kind = 'promo'")[0]["n"] == 10


@pytest.mark.parametrize("harness", [ChatOptions(account=AccountPolicy(promo_misses_per_hour=3))],
                         indirect=True)
def test_a_code_works_once_per_user_and_wrong_or_expired_codes_are_rate_limited(
        harness: ChatHarness) -> None:
    h = harness
    ask(h, ADMIN, "/newpromo ONCE 5 100 30")
    ask(h, ADMIN, "/newpromo OLD 5 100")
    assert "redeemed: +5" in ask(h, USER, "/promo once")[0]
    assert "already used" in ask(h, USER, "/promo ONCE")[0]
    assert available(h, USER) == 25
    h.sql("UPDATE promo_codes SET expires_at = now() - interval '1 second' WHERE code = 'OLD'")
    assert "expired" in ask(h, USER, "/promo OLD")[0]
    assert "no such promo code" in ask(h, USER, "/promo NOPE")[0]
    assert "no such promo code" in ask(h, USER, "/promo x!")[0]
    assert "Send /promo CODE" in ask(h, USER, "/promo")[0]
    ask(h, ADMIN, "/newpromo LATER 5 100")
    assert "Try again in an hour" in ask(h, USER, "/promo LATER")[0]  # three misses: wait
    assert available(h, USER) == 25
    assert "redeemed" in ask(h, OTHER, "/promo LATER")[0]  # the limit is per user


def test_newpromo_is_for_admins_and_checks_its_arguments(harness: ChatHarness) -> None:
    h = harness
    assert "admin" in ask(h, USER, "/newpromo FREE 100 100")[0].lower()
    assert "Usage: /newpromo" in ask(h, ADMIN, "/newpromo FREE 100")[0]
    assert "Usage: /newpromo" in ask(h, ADMIN, "/newpromo FREE -5 10")[0]
    assert "expires never" in ask(h, ADMIN, "/newpromo FREE 100 1")[0]
    assert "exists already" in ask(h, ADMIN, "/newpromo free 7 7")[0]
    assert one(h, "SELECT count(*) FROM promo_codes") == 1


# --- finding, adjusting, banning ---------------------------------------------------------------


def test_an_admin_finds_a_user_by_id_username_or_a_forwarded_message(
        harness: ChatHarness) -> None:
    h = harness
    h.handled(h._deliver(USER, {"message": {
        "message_id": 5, "chat": {"id": USER, "type": "private"}, "text": "/start",
        "from": {"id": USER, "language_code": "en", "username": "Fox_Fan"}}}))
    assert "User 501 @Fox_Fan" in ask(h, ADMIN, "/user @fox_fan")[0]
    assert "User 501" in ask(h, ADMIN, "/user 501")[0]
    assert "No such user: @nobody" in ask(h, ADMIN, "/user @nobody")[0]
    forward = h._deliver(ADMIN, {"message": {
        "message_id": 6, "chat": {"id": ADMIN, "type": "private"}, "text": "hi",
        "from": {"id": ADMIN, "language_code": "en"},
        "forward_origin": {"type": "user", "date": 1, "sender_user": {"id": USER}}}})
    h.handled(forward)
    assert "User 501" in replies(h, forward)[0]
    hidden = h._deliver(ADMIN, {"message": {
        "message_id": 7, "chat": {"id": ADMIN, "type": "private"}, "text": "hi",
        "from": {"id": ADMIN, "language_code": "en"},
        "forward_origin": {"type": "hidden_user", "date": 1, "sender_user_name": "X"}}})
    h.handled(hidden)
    assert "hides their account" in replies(h, hidden)[0]
    assert "admin" in ask(h, USER, "/user 900")[0].lower()


def test_adjust_is_a_ledger_entry_naming_the_admin_and_the_user_is_told(
        harness: ChatHarness) -> None:
    h = harness
    ask(h, USER, "/start")
    assert "Balance: 50" in ask(h, ADMIN, "/adjust 501 +30 contest prize")[0]
    assert "has only 50" in ask(h, ADMIN, "/adjust 501 -100 too much")[0]
    assert "Balance: 40" in ask(h, ADMIN, "/adjust 501 -10 abuse")[0]
    assert "Usage: /adjust" in ask(h, ADMIN, "/adjust 501 10")[0]  # a reason is required
    assert available(h, USER) == 40
    notes = h.sql("SELECT kind::text AS kind, amount, note FROM ledger WHERE user_id = 501 "
                  "AND ref LIKE 'adjust:%%' ORDER BY id")
    assert notes == [{"kind": "grant", "amount": 30, "note": "admin 900: contest prize"},
                     {"kind": "debit", "amount": 10, "note": "admin 900: abuse"}]
    told = h.texts(USER)
    assert any("changed by +30: contest prize" in t for t in told), told
    actions = [r["action"] for r in h.sql("SELECT action FROM admin_audit ORDER BY id")]
    assert actions == ["adjust", "adjust"]


def test_a_banned_user_gets_one_line_and_their_job_in_flight_goes_on(
        harness: ChatHarness) -> None:
    h = harness
    job_id = paid_job(h, USER)
    assert "is banned" in ask(h, ADMIN, "/ban 501")[0]
    assert "already banned" in ask(h, ADMIN, "/ban 501")[0]
    assert ask(h, USER, "/start") == ["⛔ This account is blocked."]
    assert ask(h, USER, "/promo X") == ["⛔ This account is blocked."]
    press = h.press(USER, "1:0")
    h.handled(press)
    answers = h.sql("SELECT payload FROM outbox WHERE kind = 'answer_callback' "
                    "AND dedup_key = %(k)s", k=f"upd:{press}:answer")
    assert answers[0]["payload"]["text"] == "⛔ This account is blocked."
    assert replies(h, press) == []
    assert state(h, job_id) is JobState.SUBMITTED  # the ban left the job alone
    deliver(h, job_id)  # and it ends as any other: delivered, its hold captured
    assert state(h, job_id) is JobState.DELIVERED
    assert one(h, "SELECT count(*) FROM ledger WHERE kind = 'capture' AND job_id = %(j)s",
               j=job_id) == 1
    assert "Admins cannot be banned" in ask(h, ADMIN, "/ban 900")[0]
    assert "unbanned" in ask(h, ADMIN, "/unban 501")[0]
    assert "Your balance: 18 credits" in ask(h, USER, "/balance")[0]
    actions = [r["action"] for r in h.sql("SELECT action FROM admin_audit ORDER BY id")]
    assert actions == ["ban", "unban"]


def test_the_admin_menu_and_stats(harness: ChatHarness) -> None:
    h = harness
    done, failed = paid_job(h, USER), paid_job(h, USER)
    deliver(h, done)
    with h.store.transaction() as tx:
        jobs.move(tx, failed, JobState.FAILED, Cause.OPERATOR, failure=Failure.TIMED_OUT)
    menu = h.send(ADMIN, "/admin")
    h.handled(menu)
    buttons = h.sql("SELECT payload FROM outbox WHERE dedup_key = %(k)s",
                    k=f"upd:{menu}:0")[0]["payload"]["buttons"]
    datas = [b["data"] for row in buttons for b in row]
    assert datas == ["adm:find", "adm:stats:1", "adm:stats:7", "adm:promo", "adm:audit"]
    assert all(len(d.encode()) <= 64 for d in datas)
    week = h.press(ADMIN, "adm:stats:7")
    h.handled(week)
    text = replies(h, week)[0]
    price = CATALOG.get("google/nano-banana").price_for(CATALOG.get("google/nano-banana").example)
    kie = CATALOG.get("google/nano-banana").kie_credits
    assert "Users: 2 new, 1 active" in text, text  # the user and the admin
    assert "Jobs: 2: 1 delivered, 1 failed, 0 in flight; failure rate 50.0%" in text, text
    assert f"Credits: 0 sold, {price} spent" in text, text
    assert f"KIE credits used ≈ {float(kie):g}" in text, text
    assert "google/nano-banana: delivered 1, failed 1" in text, text
    not_admin = h.press(USER, "adm:stats:7")
    h.handled(not_admin)
    assert "admin" in replies(h, not_admin)[0].lower()


# --- refunds -----------------------------------------------------------------------------------


def test_a_delivered_job_is_refunded_exactly_once(harness: ChatHarness) -> None:
    h = harness
    job_id = paid_job(h, USER)
    price = CATALOG.get("google/nano-banana").price_for(CATALOG.get("google/nano-banana").example)
    assert "not finished" in ask(h, ADMIN, f"/refund {job_id}")[0]
    deliver(h, job_id)
    before = available(h, USER)
    ask_press = h.press(ADMIN, f"adm:rj:{job_id}")  # the card's button asks first
    h.handled(ask_press)
    assert "Refund job" in replies(h, ask_press)[0] and available(h, USER) == before
    yes = h.press(ADMIN, f"adm:rjy:{job_id}")
    h.handled(yes)
    assert "refunded to user 501" in replies(h, yes)[0]
    assert "already refunded" in ask(h, ADMIN, f"/refund {job_id}")[0]
    assert available(h, USER) == before + price
    assert one(h, "SELECT count(*) FROM ledger WHERE kind = 'refund'") == 1
    assert sum("refunded" in t for t in h.texts(USER)) == 1


def test_a_failed_jobs_credits_are_not_given_twice(harness: ChatHarness) -> None:
    h = harness
    job_id = paid_job(h, USER)
    with h.store.transaction() as tx:
        jobs.move(tx, job_id, JobState.FAILED, Cause.OPERATOR, failure=Failure.TIMED_OUT)
    assert "went back when it failed" in ask(h, ADMIN, f"/refund {job_id}")[0]
    assert one(h, "SELECT count(*) FROM ledger WHERE kind = 'refund'") == 0
    assert "No such job" in ask(h, ADMIN, "/refund 99999")[0]


def test_a_stars_refund_takes_back_only_the_unspent_credits_once(harness: ChatHarness) -> None:
    h = harness
    h.handled(h.pay(USER, "ch-spent", 50))   # 20 welcome + 50
    h.handled(h.pay(OTHER, "ch-whole", 50))  # 20 welcome + 50
    ask(h, ADMIN, "/adjust 501 -45 spent on a test")  # 25 left of the 70
    reply = ask(h, ADMIN, "/refund topup ch-spent")[0]
    assert "25 of 50" in reply, reply
    assert available(h, USER) == 0
    assert "already refunded (25" in ask(h, ADMIN, "/refund topup ch-spent")[0]
    entry = one(h, "SELECT id FROM ledger WHERE ref = 'topup:ch-whole'")
    assert "50 of 50" in ask(h, ADMIN, f"/refund topup {entry}")[0]
    assert available(h, OTHER) == 20
    calls = h.sql("SELECT chat_id, payload FROM outbox WHERE kind = 'refund_stars' ORDER BY id")
    assert [(c["chat_id"], c["payload"]) for c in calls] == [
        (USER, {"user_id": USER, "charge_id": "ch-spent"}),
        (OTHER, {"user_id": OTHER, "charge_id": "ch-whole"})]
    notes = h.sql("SELECT note FROM ledger WHERE kind = 'reversal' ORDER BY id")
    assert "25 of 50 credits unspent" in notes[0]["note"]
    assert "+50 credits (refunded, 25 credits taken back)" in "\n".join(ask(h, USER, "/balance"))
    assert "No such job or payment: nope" in ask(h, ADMIN, "/refund topup nope")[0]


# --- Stars support texts ---------------------------------------------------------------------


@pytest.mark.parametrize("harness", [ChatOptions(account=AccountPolicy(
    terms_text="Our terms: be nice."))], indirect=True)
def test_terms_and_paysupport(harness: ChatHarness) -> None:
    h = harness
    assert ask(h, USER, "/terms") == ["Our terms: be nice."]
    assert "/paysupport" in ask(h, USER, "/paysupport")[0]
    assert "Sent to support" in ask(h, USER, "/paysupport I paid and got nothing")[0]
    assert any("from user 501: I paid and got nothing" in t for t in h.texts(ADMIN))


# --- per-user limits -------------------------------------------------------------------------


@pytest.mark.parametrize("harness", [ChatOptions(
    welcome_credits=100, account=AccountPolicy(max_jobs_in_flight=2))], indirect=True)
def test_at_most_max_jobs_in_flight_per_user_and_admins_are_exempt(
        harness: ChatHarness) -> None:
    h = harness
    paid_job(h, USER)
    model = CATALOG.get("google/nano-banana")
    second = h.send(USER, gen_command(model, model.example))
    h.handled(second)
    button = h.confirm_button(second)
    h.handled(h.press(USER, button))
    third = h.send(USER, gen_command(model, model.example))
    h.handled(third)
    refused = h.press(USER, h.confirm_button(third))
    h.handled(refused)
    assert "already have 2 jobs in progress" in replies(h, refused)[0]
    again = h.press(USER, button)  # a second tap on the second job's confirm: same job
    h.handled(again)
    assert "in progress" not in " ".join(replies(h, again))
    assert one(h, "SELECT count(*) FROM jobs WHERE user_id = 501") == 2
    for _ in range(3):
        paid_job(h, ADMIN)
    assert one(h, "SELECT count(*) FROM jobs WHERE user_id = 900") == 3


@pytest.mark.parametrize("harness", [ChatOptions(
    welcome_credits=100, account=AccountPolicy(max_jobs_in_flight=10, confirms_per_min=2))],
    indirect=True)
def test_a_confirm_rate_limit_per_user(harness: ChatHarness) -> None:
    h = harness
    paid_job(h, USER)
    paid_job(h, USER)
    model = CATALOG.get("google/nano-banana")
    third = h.send(USER, gen_command(model, model.example))
    h.handled(third)
    refused = h.press(USER, h.confirm_button(third))
    h.handled(refused)
    assert "Too many orders in a minute (at most 2)" in replies(h, refused)[0]
    assert one(h, "SELECT count(*) FROM jobs WHERE user_id = 501") == 2


def test_garbage_in_admin_commands_and_buttons_gets_the_usage_not_an_error(
        harness: ChatHarness) -> None:
    h = harness
    assert "Usage: /refund" in ask(h, ADMIN, "/refund 99999999999999999999999")[0]
    assert "No such user: ²" in ask(h, ADMIN, "/user ²")[0]
    assert "Usage: /adjust" in ask(h, ADMIN, "/adjust 501 +1e9 why")[0]
    assert "Usage: /adjust" in ask(h, ADMIN, "/adjust 501 --5 why")[0]
    assert "Usage: /ban" in ask(h, ADMIN, "/ban 99999999999999999999")[0]
    for data in ("adm:stats:99999999", "adm:rj:99999999999999999999", "adm:nope", "adm:"):
        press = h.press(ADMIN, data)
        h.handled(press)
        assert "expired" in replies(h, press)[0], data
    assert h.chats.snapshot()["failures"] == 0


def test_a_banned_user_cannot_pay_but_a_payment_already_made_is_credited(
        harness: ChatHarness) -> None:
    h = harness
    ask(h, USER, "/start")
    ask(h, ADMIN, "/ban 501")
    checkout = h._deliver(USER, {"pre_checkout_query": {
        "id": "pcq-1", "from": {"id": USER, "language_code": "en"}, "currency": "XTR",
        "total_amount": 50, "invoice_payload": "topup:50:50"}})
    h.handled(checkout)
    answer = h.sql("SELECT payload FROM outbox WHERE kind = 'answer_precheckout'")[0]["payload"]
    assert answer == {"query_id": "pcq-1", "ok": False,
                      "error_message": "⛔ This account is blocked."}
    h.handled(h.pay(USER, "ch-before-ban", 50))  # paid before the ban took effect
    assert available(h, USER) == 70
