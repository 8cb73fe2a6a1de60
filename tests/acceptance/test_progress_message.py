"""The progress message goes only to a job still running ``TRT_PROGRESS_AFTER_S`` after
confirm (issue 16): a fast job's user gets the result alone, a slow job's user sees the
progress message and then the result, with the message edited to "done"."""
# ruff: noqa: F811 (the fixtures imported from module_node are parameters of the tests)

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import Person, balance, query
from tests.acceptance.harness import KIE_KEY, NodeProcess, wait_until
from tests.acceptance.module_node import database, running_node, telegram  # noqa: F401 (fixtures)
from trt_actors.infra.settings import load_settings, settings_error_line

pytestmark = pytest.mark.acceptance

PROGRESS_AFTER_S = 4.0
"""The node's TRT_PROGRESS_AFTER_S here: a fast job ends well before it, a slow one after."""
SLOW_S = 8.0
"""KIE's task duration for the slow job."""
WELCOME = 20  # TRT_WELCOME_CREDITS, as the harness sets it
NANO_PRICE = 2


@pytest.fixture(scope="module")
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, duration_s=0) as emu:
        yield emu


@pytest.fixture(scope="module")
def node(database: str, kie: KieEmulator, telegram: TelegramEmulator,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with running_node(database, kie, telegram,
                         tmp_path_factory.mktemp("progress") / "node.log",
                      TRT_PROGRESS_AFTER_S=str(PROGRESS_AFTER_S)) as proc:
        yield proc


def order_and_confirm(telegram: TelegramEmulator, user_id: int) -> tuple[Person, int]:
    """A newcomer orders a picture by /gen and confirms; the person and the job id."""
    person = Person(telegram, user_id)
    person.say("/start", "What would you like to make?")
    screen = person.say(f'/gen google/nano-banana prompt="a lighthouse {user_id}"',
                        "Please check your order")
    mark, _ = person.press("Confirm", on=screen)
    accepted = person.expect("accepted", mark)
    return person, int(accepted.text.split("#")[1].split()[0])


def result_of(person: Person, job_id: int, timeout: float) -> dict[str, object]:
    sent = wait_until(lambda: [m for m in person.media()
                               if f"job #{job_id}" in str(m.get("text") or "")],
                      timeout, f"job #{job_id}'s result")
    assert len(sent) == 1, sent
    return sent[0]


def delivered(database: str, job_id: int) -> None:
    wait_until(lambda: query(database, "SELECT state::text AS s FROM jobs WHERE id = %s",
                             job_id)[0]["s"] == "delivered", 10, f"job #{job_id} delivered")


def test_a_fast_job_gets_its_result_without_a_progress_message(
    node: NodeProcess, kie: KieEmulator, telegram: TelegramEmulator, database: str,
) -> None:
    kie.configure(duration_s=0)
    person, job_id = order_and_confirm(telegram, 801)
    result_of(person, job_id, PROGRESS_AFTER_S * 2)
    delivered(database, job_id)
    # Past the moment the progress message would have been due (and delivery's next look
    # at the outbox after it): it never comes.
    wait_until(lambda: query(
        database, "SELECT now() > created_at + make_interval(secs => %s) AS passed "
                  "FROM jobs WHERE id = %s", PROGRESS_AFTER_S + 2, job_id)[0]["passed"],
               PROGRESS_AFTER_S + 10, "the progress message's due time to pass")
    assert not [v for v in person.views() if f"Job #{job_id}: " in v.text], (
        "a job done before TRT_PROGRESS_AFTER_S shows no progress message", person.views())
    assert balance(database, 801) == (WELCOME - NANO_PRICE, 0), "charged exactly its price"


def test_a_slow_job_shows_progress_then_its_result(
    node: NodeProcess, kie: KieEmulator, telegram: TelegramEmulator, database: str,
) -> None:
    kie.configure(duration_s=SLOW_S)
    person, job_id = order_and_confirm(telegram, 802)
    progress = wait_until(lambda: [v for v in person.views() if f"Job #{job_id}: " in v.text],
                          PROGRESS_AFTER_S + 5, f"job #{job_id}'s progress message")
    assert progress[0].media is None
    result_of(person, job_id, SLOW_S + 20)
    delivered(database, job_id)
    done = wait_until(lambda: person.texts(f"Job #{job_id}: done"), 10,
                      f"job #{job_id}'s progress message to say done")
    history = [v.text for v in person.views() if v.message_id == done[0].message_id]
    assert len(history) >= 2 and "done" in history[-1], (
        "one progress message, edited to done (not re-sent)", history)
    assert len({v.message_id for v in person.views() if f"Job #{job_id}: " in v.text}) == 1
    assert balance(database, 802) == (WELCOME - NANO_PRICE, 0), "charged exactly its price"


def test_the_delay_is_a_setting_of_0_to_60_seconds() -> None:
    env = {"TRT_TELEGRAM_TOKEN": "123456:progress-test-token", "TRT_KIE_API_KEY": "k" * 12}
    assert load_settings(**env).progress_after_s == 3, "a fast job shows no progress by default"
    assert load_settings(**env, TRT_PROGRESS_AFTER_S="0").progress_after_s == 0
    with pytest.raises(ValidationError) as refused:
        load_settings(**env, TRT_PROGRESS_AFTER_S="-1")
    assert settings_error_line(refused.value).startswith("TRT_PROGRESS_AFTER_S: ")
