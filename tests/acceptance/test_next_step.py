"""Results feed the next step (issue 12, item 5), through the real node and the emulators.

Under a delivered image the bot offers the models that take it ("✏️ Edit", ...; what the
catalog allows) and "🔁 Again". Edit → Qwen Image Edit asks only for the prompt, the order
uses KIE's own result URL (no re-upload), and it is delivered and charged once. Again shows a
new confirm screen with the same inputs and today's price; a double tap makes one job.
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
NANO_PRICE = 2  # google/nano-banana in the catalog


@pytest.fixture(scope="module")
def node(database: str, telegram: TelegramEmulator,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with KieEmulator(KIE_KEY, duration_s=0.5) as kie, \
            running_node(database, kie, telegram,
                         tmp_path_factory.mktemp("next") / "node.log") as proc:
        yield proc


def result_urls(database: str, job_id: int) -> list[str]:
    rows = query(database, "SELECT result_urls FROM jobs WHERE id = %s", job_id)
    return list(rows[0]["result_urls"] or [])


def delivered_photo(person: Person, database: str, job_id: int) -> View:
    """The photo of job ``job_id`` as the person sees it, once its job is delivered."""
    def shown() -> list[View]:
        done = query(database, "SELECT 1 FROM jobs WHERE id = %s AND state = 'delivered'",
                     job_id)
        return [v for v in person.texts(f"#{job_id}") if v.media and v.buttons] if done else []

    (photo,) = wait_until(shown, 30, f"job #{job_id}'s photo with its buttons")
    return photo


def confirm(person: Person, screen: View, *, twice: bool = False) -> int:
    """Press the confirm button (twice: a double tap); the job id the bot accepted."""
    mark, _ = person.press("Confirm", on=screen)
    if twice:
        person.telegram.press_button(person.user_id, screen.message_id, screen.buttons[0][1])
    accepted = person.expect("accepted", mark)
    return int(accepted.text.split("#")[1].split()[0])


def test_a_result_feeds_the_next_model_and_again_repeats_the_order(
    node: NodeProcess, telegram: TelegramEmulator, database: str,
) -> None:
    person = Person(telegram, 7501)
    person.say("/start", "What would you like to make?")
    order = person.say('/gen google/nano-banana prompt="a fox on the moon"',
                       "Please check your order")
    first = confirm(person, order)
    photo = delivered_photo(person, database, first)
    labels = [label for label, _ in photo.buttons]
    assert labels == ["✏️ Edit", "🎞 Animate", "🔍 Upscale", "✂️ Remove background",
                      "🔁 Again"], labels
    (kie_url,) = result_urls(database, first)

    # Edit → a picker → Qwen Image Edit asks only for the prompt: the image is the result.
    mark, _ = person.press("Edit", on=photo)
    person.expect(f"take result #{first}", mark)
    question = person.step("Qwen Image Edit", "Step 1/2")
    assert f"Using result #{first} as the input" in question.text
    person.say("make it night", "Optional settings")
    screen = person.step("Use defaults", "Please check your order")
    assert kie_url in screen.text, "the confirm screen shows the previous result as the input"
    edit = confirm(person, screen)
    delivered_photo(person, database, edit)
    job = next(j for j in jobs_of(database, 7501) if j["id"] == edit)
    assert job["model_id"] == "qwen/image-edit" and job["state"] == "delivered"
    assert job["input"]["image_url"] == kie_url, "KIE's result URL, not a re-upload"
    assert job["input"]["prompt"] == "make it night"

    # Again: the same order, on a new confirm screen with its price; a double tap → one job.
    mark, _ = person.press("Again", on=photo)
    again = person.expect("Please check your order", mark)
    assert "a fox on the moon" in again.text and f"{NANO_PRICE} credits" in again.text
    assert balance(database, 7501) == (WELCOME - NANO_PRICE, 0), "nothing held before confirm"
    third = confirm(person, again, twice=True)
    delivered_photo(person, database, third)
    jobs = jobs_of(database, 7501)
    assert [j["model_id"] for j in jobs] == ["google/nano-banana", "qwen/image-edit",
                                             "google/nano-banana"]
    assert jobs[2]["input"] == jobs[0]["input"] and jobs[2]["state"] == "delivered"
    assert balance(database, 7501) == (WELCOME - 2 * NANO_PRICE, 0), "each charged once"
    captures = query(database, "SELECT amount FROM ledger WHERE user_id = %s AND "
                               "kind::text = 'capture' ORDER BY id", 7501)
    assert [c["amount"] for c in captures if c["amount"]] == [NANO_PRICE, NANO_PRICE]


def test_buttons_of_someone_elses_or_a_gone_result_change_nothing(
    node: NodeProcess, telegram: TelegramEmulator, database: str,
) -> None:
    owner = Person(telegram, 7601)
    owner.say("/start", "What would you like to make?")
    first = confirm(owner, owner.say('/gen z-image prompt="a kite" aspect_ratio=1:1',
                                     "Please check your order"))
    photo = delivered_photo(owner, database, first)
    other = Person(telegram, 7602)
    other.say("/start", "What would you like to make?")
    for data in (f"again:{first}", f"next:{first}:edit", "next:999999:edit"):
        mark = other.mark()
        telegram.inject_update({"callback_query": {
            "id": f"forged-{data}", "from": {"id": 7602, "is_bot": False, "first_name": "Eve"},
            "message": {"message_id": photo.message_id, "date": 0,
                        "chat": {"id": 7602, "type": "private"}},
            "chat_instance": "1", "data": data}})
        other.expect("no longer available", mark)
    assert jobs_of(database, 7602) == [] and len(jobs_of(database, 7601)) == 1
    assert balance(database, 7602) == (WELCOME, 0)
