"""People using the real node through the Telegram emulator: menus, wizard, /gen, credits.

One node process serves the whole module (it starts in about a second, but every screen
costs a second of Telegram's per-chat limit, so the time goes into the conversations); each
test is a different person, so the tests do not depend on each other.
"""
# ruff: noqa: F811 (the fixtures imported from module_node are parameters of the tests)

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import Person, View, balance, jobs_of, query
from tests.acceptance.harness import KIE_KEY, NodeProcess, wait_until
from tests.acceptance.module_node import database, running_node, telegram  # noqa: F401 (fixtures)

pytestmark = pytest.mark.acceptance

WELCOME = 20  # TRT_WELCOME_CREDITS, as the harness sets it
ADMIN = 1  # TRT_ADMIN_IDS, as the harness sets it
NANO_PRICE = 2  # google/nano-banana in the catalog
VEO_PRICE = 30  # veo3_fast in the catalog: more than the welcome grant


@pytest.fixture(scope="module")
def node(database: str, telegram: TelegramEmulator,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with KieEmulator(KIE_KEY, duration_s=0.5) as kie, \
            running_node(database, kie, telegram,
                         tmp_path_factory.mktemp("flows") / "node.log") as proc:
        yield proc
    stats = telegram.stats()
    assert stats["too_many_requests"] == 0, (
        f"the node broke Telegram's flood limits: {stats['too_many_requests_by_chat']}, "
        f"max per chat {stats['max_per_chat_rate']}/s, max global {stats['max_global_rate']}/s")


def newcomer(telegram: TelegramEmulator, user_id: int) -> tuple[Person, View]:
    """A person who opens the bot for the first time; returns them and the main menu, which
    comes with the welcome in one message (not two: the second would wait out the chat's
    pace)."""
    person = Person(telegram, user_id)
    mark = person.send("/start")
    menu = person.expect("What would you like to make?", mark)
    assert f"Welcome! You got {WELCOME} credits" in menu.text, menu.text
    assert f"Your balance: {WELCOME} credits" in menu.text
    assert [v.message_id for v in person.since(mark)] == [menu.message_id], "one message"
    return person, menu


def confirm_twice(person: Person, screen: View) -> int:
    """Double tap the confirm button (the first button of the confirm screen); the job id."""
    assert screen.buttons[0][0].startswith("✅ Confirm"), screen.buttons
    mark, first = person.press("Confirm", on=screen)
    second = person.telegram.press_button(person.user_id, screen.message_id, screen.buttons[0][1])
    accepted = person.expect("accepted", mark)

    def answered() -> bool:  # neither tap leaves a spinning button
        return all(person.telegram.callback_query(q)["answered"] for q in (first, second))

    wait_until(answered, 10, "both taps on confirm to be answered")
    return int(accepted.text.split("#")[1].split()[0])


def follow_to_delivery(person: Person, database: str, job_id: int, kind: str = "photo") -> None:
    """The media arrives, once; a progress message, if the job ran long enough to show one
    (TRT_PROGRESS_AFTER_S), goes queued → … → done (test_progress_message has both cases)."""
    sent = wait_until(lambda: [m for m in person.media()
                               if f"job #{job_id}" in (m.get("text") or "")], 30,
                      f"job #{job_id}'s result")
    wait_until(lambda: query(database, "SELECT state::text AS s FROM jobs WHERE id = %s",
                             job_id)[0]["s"] == "delivered", 10, f"job #{job_id} delivered")
    assert len(sent) == 1 and sent[0]["media"]["kind"] == kind, person.media()
    progress = [v for v in person.views() if f"Job #{job_id}: " in v.text]
    if progress:
        status = wait_until(lambda: person.texts(f"Job #{job_id}: done"), 10,
                            f"job #{job_id}'s status message to say done")[0]
        history = [v.text for v in person.views() if v.message_id == status.message_id]
        assert "done" in history[-1] and len(history) >= 2, (
            "the status message is edited, not re-sent", history)
    assert query(database, "SELECT state::text AS s FROM jobs WHERE id = %s",
                 job_id)[0]["s"] == "delivered"


def test_a_newcomer_is_welcomed_and_walks_the_free_wizard(
    node: NodeProcess, telegram: TelegramEmulator, database: str,
) -> None:
    person, _ = newcomer(telegram, 701)
    assert f"Your balance: {WELCOME} credits" in person.say("/balance", "balance").text
    assert balance(database, 701) == (WELCOME, 0)

    person.step("Free models", "Free models")
    card = person.step("Z-Image", "Price: free")
    assert "/gen z-image" in card.text, "the model card shows the shortcut"
    person.step("Start", "Step 1/2")
    question = person.say("a lighthouse at dusk", "Step 2/2 · Choose the aspect ratio")
    assert question.button("16:9") is not None, "an enum is offered as buttons"

    again = person.say("widescreen", "Step 2/2")  # typed, and not one of the values
    assert "Choose one of: 1:1, 4:3, 3:4, 16:9, 9:16" in again.text, again.text
    assert again.button("16:9") is not None, "the same question, with its buttons, again"

    screen = person.step("16:9", "Please check your order")
    assert "Prompt: a lighthouse at dusk" in screen.text and "Aspect ratio: 16:9" in screen.text
    assert "Price: free" in screen.text
    job_id = confirm_twice(person, screen)

    follow_to_delivery(person, database, job_id)
    jobs = jobs_of(database, 701)
    assert len(jobs) == 1, "a double tap on confirm makes one job"
    assert jobs[0]["input"]["aspect_ratio"] == "16:9" and jobs[0]["price"] == 0
    assert balance(database, 701) == (WELCOME, 0), "a free model costs nothing"


def test_a_paid_model_by_gen_and_by_wizard_costs_exactly_its_price(
    node: NodeProcess, telegram: TelegramEmulator, database: str,
) -> None:
    person, _ = newcomer(telegram, 702)
    wrong = person.say("/gen google/nano-banana prompt=x aspect_ratio=huge", "not accepted")
    assert "Choose one of: 1:1" in wrong.text, "/gen checks values like the wizard does"
    gen = person.say('/gen google/nano-banana prompt="a banana spaceship" aspect_ratio=4:3',
                     "Please check your order")

    person.say("/start", "What would you like to make?")
    person.step("Images", "what should the model do?")
    person.step("Text to image", "choose a model")
    person.step("Nano Banana", f"Price: {NANO_PRICE} credits")
    person.step("Start", "Step 1/1")
    person.say("a banana spaceship", "Optional settings")
    person.step("Aspect ratio", "(optional)")
    again = person.say("huge", "(optional)")  # an enum value that does not exist
    assert "❌ Choose one of: 1:1, 9:16, 16:9" in again.text, again.text
    options = person.step("4:3", "Optional settings")
    assert "Aspect ratio: 4:3" in options.text
    screen = person.step("Continue", "Please check your order")
    assert screen.text == gen.text, "/gen and the wizard show the same order"
    assert [label for label, _ in screen.buttons] == [label for label, _ in gen.buttons]
    assert f"Price: {NANO_PRICE} credits" in screen.text
    assert f"Balance: {WELCOME} credits → after: {WELCOME - NANO_PRICE} credits" in screen.text

    mark, _ = person.press("Confirm", on=gen)  # an older screen's button
    assert "This menu has expired" in person.expect("expired", mark).text
    job_id = confirm_twice(person, screen)

    follow_to_delivery(person, database, job_id)
    jobs = jobs_of(database, 702)
    assert len(jobs) == 1, "an expired button and a double tap on confirm make one job"
    assert jobs[0]["input"]["aspect_ratio"] == "4:3" and jobs[0]["price"] == NANO_PRICE
    assert balance(database, 702) == (WELCOME - NANO_PRICE, 0)
    ledger = query(database, "SELECT kind::text AS kind, amount FROM ledger WHERE user_id = 702 "
                             "AND job_id IS NOT NULL ORDER BY id")
    assert [(e["kind"], e["amount"]) for e in ledger] == [("hold", NANO_PRICE),
                                                          ("capture", NANO_PRICE)]
    shown = person.say("/balance", "balance").text
    assert f"Your balance: {WELCOME - NANO_PRICE} credits" in shown


def test_a_bad_link_is_refused_and_asked_again(
    node: NodeProcess, telegram: TelegramEmulator, database: str,
) -> None:
    person, _ = newcomer(telegram, 703)
    person.step("Images", "what should the model do?")
    person.step("Image editing", "choose a model")
    person.step("Qwen Image Edit", "Price: free")
    person.step("Start", "Step 1/2")
    question = person.say("put a hat on the cat", "Step 2/2 · Send a link to the image")

    again = person.say("not a url", "Step 2/2 · Send a link to the image")
    assert again.text.startswith("❌ Send an http(s) link"), again.text

    # (a photo is an answer now: tests/integration/test_file_inputs.py follows it to KIE)
    options = person.say("https://example.com/cat.png", "Optional settings")
    assert "Step 2/2" in question.text and options.message_id != question.message_id
    person.step("Cancel", "Cancelled")
    assert jobs_of(database, 703) == [], "nothing was ordered"


def test_stars_top_up_credits_once_even_when_the_payment_is_replayed(
    node: NodeProcess, telegram: TelegramEmulator, database: str,
) -> None:
    person, _ = newcomer(telegram, 705)
    order = person.say('/gen veo3_fast prompt="waves at night"', "Please check your order")
    assert f"Price: {VEO_PRICE} credits" in order.text
    mark, _ = person.press("Confirm", on=order)
    short = person.expect("Not enough credits", mark)
    assert f"needs {VEO_PRICE} credits, your balance is {WELCOME} credits" in short.text
    assert jobs_of(database, 705) == [] and balance(database, 705) == (WELCOME, 0)

    person.say("/topup", "Buy credits with Telegram Stars")
    mark, _ = person.press("50 ⭐")
    invoice = person.expect(lambda v: v.invoice is not None, mark)
    assert invoice.invoice is not None
    assert invoice.invoice["currency"] == "XTR" and invoice.invoice["total_amount"] == 50

    mark = person.mark()
    checkout = telegram.pay_invoice(705, invoice.message_id)
    paid = person.expect("Payment received", mark)
    assert "+50 credits" in paid.text and f"{WELCOME + 50} credits" in paid.text
    assert telegram.pre_checkout_query(checkout)["ok"] is True
    back = person.expect("Please check your order", mark)  # where the user left off
    assert f"Balance: {WELCOME + 50} credits → after: {WELCOME + 50 - VEO_PRICE}" in back.text

    charge_id = telegram.payments()[0]["telegram_payment_charge_id"]
    mark = person.mark()
    telegram.replay_payment(charge_id)
    assert f"{WELCOME + 50} credits" in person.expect("already on your balance", mark).text
    person.expect("Please check your order", mark)
    topups = query(database, "SELECT amount FROM ledger WHERE user_id = 705 AND kind = 'topup'")
    assert [t["amount"] for t in topups] == [50], "one payment, one credit"
    assert balance(database, 705) == (WELCOME + 50, 0)

    job_id = confirm_twice(person, person.screen())
    follow_to_delivery(person, database, job_id, kind="video")
    assert balance(database, 705) == (WELCOME + 50 - VEO_PRICE, 0)


def test_only_an_admin_may_grant_credits(
    node: NodeProcess, telegram: TelegramEmulator, database: str,
) -> None:
    person = Person(telegram, 706, language_code="ru")  # a Russian speaker: Russian texts
    mark = person.send("/start")
    assert f"{WELCOME} кредитов" in person.expect("Добро пожаловать", mark).text
    person.expect("Что будем делать?", mark)
    refused = person.say("/grant 706 1000", "только для администраторов")
    assert refused.text.startswith("Извините"), "refused politely"
    person.say("/stats", "только для администраторов")
    assert balance(database, 706) == (WELCOME, 0)

    admin, _ = newcomer(telegram, ADMIN)
    done = admin.say("/grant 706 30", "Granted")
    assert f"Their balance: {WELCOME + 30} credits" in done.text, done.text
    assert f"Ваш баланс: {WELCOME + 30} кредитов" in person.say("/balance", "баланс").text
    assert balance(database, 706) == (WELCOME + 30, 0)
