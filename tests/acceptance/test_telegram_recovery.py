"""The real node killed -9 mid-conversation and mid-delivery, and a user who blocks the bot.

Promise under test: a kill loses no user action and no result, and repeats nothing except,
at most, the one message per chat that was on the wire at the kill; a result that cannot be
delivered releases its credit hold.
"""

from __future__ import annotations

from functools import partial

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import Person, all_ended, balance, jobs_of, query
from tests.acceptance.harness import NodeProcess, wait_until

pytestmark = pytest.mark.acceptance

WELCOME = 20  # TRT_WELCOME_CREDITS, as the harness sets it
NANO_PRICE = 2  # google/nano-banana in the catalog


def all_done(person: Person, jobs: int) -> bool:
    return len(person.texts(": done")) == jobs


def test_kill9_during_the_wizard_resumes_the_same_conversation(
    node: NodeProcess, telegram: TelegramEmulator, database: str,
) -> None:
    node.start()
    person = Person(telegram, 801)
    person.say("/start", "What would you like to make?")
    person.step("Free models", "Free models")
    person.step("Z-Image", "Price: free")
    person.step("Start", "Step 1/2")

    # Killed while the answer to step 1 is in flight: after the restart it is still answered.
    mark = person.send("a fox in the snow")
    node.kill9()
    node.start()
    person.expect("Step 2/2", mark)

    # Killed while idle on step 2: the restarted node takes the next answer as step 2's.
    node.kill9()
    node.start()
    screen = person.say("9:16", "Please check your order")
    assert "Prompt: a fox in the snow" in screen.text and "Aspect ratio: 9:16" in screen.text

    mark, _ = person.press("Confirm", on=screen)
    wait_until(lambda: person.media(), 30, "the picture")
    wait_until(lambda: person.texts("done"), 10, "the status message to say done")
    jobs = jobs_of(database, 801)
    assert [(j["state"], j["input"]["aspect_ratio"]) for j in jobs] == [("delivered", "9:16")]
    assert len(person.media()) == 1
    step2 = person.texts("Step 2/2")
    assert 1 <= len(step2) <= 2, f"asked once (twice only if on the wire at the kill): {step2}"
    assert len(person.texts("What would you like to make?")) <= 1, "no screen replayed"


def test_kill9_during_delivery_loses_no_result_and_repeats_at_most_one_per_chat(
    node: NodeProcess, telegram: TelegramEmulator, kie: KieEmulator, database: str,
) -> None:
    node.start()
    people = [Person(telegram, user_id) for user_id in range(811, 817)]
    rounds = 3
    for n in range(rounds):  # every chat orders three pictures, so results queue per chat
        marks = [p.send(f'/gen google/nano-banana prompt="picture {n} for {p.user_id}"')
                 for p in people]
        for person, mark in zip(people, marks, strict=True):
            screen = person.expect("Please check your order", mark)
            person.press("Confirm", on=screen)
    users = [p.user_id for p in people]
    jobs_total = len(users) * rounds
    wait_until(lambda: len(query(database, "SELECT 1 FROM jobs WHERE user_id = ANY(%s)",
                                 users)) == jobs_total, 30, "every confirm to make its job")

    def delivering() -> bool:
        sent = sum(len(p.media()) for p in people)
        return sent >= 2 and sent < jobs_total

    wait_until(delivering, 30, "the first results to be delivered")
    node.kill9()
    in_flight = query(database, "SELECT chat_id FROM outbox WHERE status = 'sending' "
                                "AND kind = 'result'")
    # createTask is not idempotent: a job killed mid-submit may be submitted again.
    submitting = query(database, "SELECT 1 FROM jobs WHERE state::text = 'submitting'")
    undelivered = query(database, "SELECT 1 FROM jobs WHERE state::text <> 'delivered'")
    assert undelivered, "the kill came while results were still waiting to be sent"

    node.start()
    wait_until(lambda: all_ended(database, users), 60, "every job to end")
    for person in people:
        wait_until(partial(all_done, person, rounds), 20,
                   f"user {person.user_id}'s status messages to say done")

    states = [j["state"] for u in users for j in jobs_of(database, u)]
    assert states == ["delivered"] * jobs_total, states
    extra = {p.user_id: len(p.media()) - rounds for p in people}
    assert all(0 <= n <= 1 for n in extra.values()), f"results per chat beyond {rounds}: {extra}"
    wire = {int(r["chat_id"]) for r in in_flight}
    assert {u for u, n in extra.items() if n} <= wire, \
        f"only a result on the wire at the kill may repeat: extra {extra}, in flight {wire}"
    for person in people:
        captions = sorted(m["text"] for m in person.media())
        assert len(set(captions)) == rounds, f"every job's result arrived: {captions}"
        sent = [v.text for v in person.views() if v.version == 0]  # every message, as sent
        assert len(sent) - len(set(sent)) <= 1, f"at most one message repeated: {sent}"
    for user in users:
        assert balance(database, user) == (WELCOME - rounds * NANO_PRICE, 0)
    creates = kie.stats(details=False)["creates"]
    assert jobs_total <= creates <= jobs_total + len(submitting), "submitted again needlessly"
    assert telegram.stats()["too_many_requests"] == 0


def test_a_user_who_blocks_the_bot_gets_the_hold_released(
    node: NodeProcess, telegram: TelegramEmulator, database: str,
) -> None:
    node.start()
    person = Person(telegram, 821)
    mark = person.send('/gen google/nano-banana prompt="a slow portrait [slow:2]"')
    screen = person.expect("Please check your order", mark)
    person.press("Confirm", on=screen)
    wait_until(lambda: jobs_of(database, 821), 10, "the job")
    assert balance(database, 821) == (WELCOME - NANO_PRICE, NANO_PRICE), "credits are held"
    telegram.block_user(821)  # before KIE has finished

    wait_until(lambda: all_ended(database, [821]), 30, "the job to end")
    job = jobs_of(database, 821)[0]
    assert (job["state"], job["failure"]) == ("failed", "undeliverable")
    assert balance(database, 821) == (WELCOME, 0), "the hold is released, nothing charged"
    assert person.media() == []
    ledger = query(database, "SELECT kind::text AS kind FROM ledger WHERE job_id = %s "
                             "ORDER BY id", job["id"])
    assert [e["kind"] for e in ledger] == ["hold", "release"]

    telegram.block_user(821, blocked=False)  # back again: the balance says so
    assert f"Your balance: {WELCOME} credits" in person.say("/balance", "balance").text
