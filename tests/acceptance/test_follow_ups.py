"""Follow-ups continue a delivered result (issue 13), through the real node and the emulators.

Under a Veo video the bot offers "🎬 Extend" and "📺 4K", under a Suno V4.5+ song "🎵 Extend":
the user never types a KIE task or track id. Extend asks only for the prompt, shows the
price, and the extend task KIE gets names the source's own task (Suno: its first track's id,
stored with the song's result); it is delivered and charged once. KIE (the emulator) refuses
a follow-up of a task it never made.
"""
# ruff: noqa: F811 (the fixtures imported from module_node are parameters of the tests)

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import Person, View, balance, jobs_of, query
from tests.acceptance.harness import KIE_KEY, TOKEN, NodeProcess, wait_until
from tests.acceptance.module_node import database, running_node  # noqa: F401 (fixtures)

pytestmark = pytest.mark.acceptance

WELCOME = 100  # TRT_WELCOME_CREDITS for this module
VEO_FAST_PRICE = 30  # veo3_fast and veo3_fast-extend: 60 KIE credits × 0.5
SUNO_PRICE = 6  # V4_5PLUS and its extend: 12 KIE credits × 0.5


@pytest.fixture(scope="module")
def telegram() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN) as emu:
        yield emu


@pytest.fixture(scope="module")
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, duration_s=0.5) as emu:
        yield emu


@pytest.fixture(scope="module")
def node(database: str, telegram: TelegramEmulator, kie: KieEmulator,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with running_node(database, kie, telegram,
                         tmp_path_factory.mktemp("follow") / "node.log",
                      TRT_WELCOME_CREDITS=str(WELCOME)) as proc:
        yield proc


def result_message(person: Person, database: str, job_id: int) -> View:
    """The message carrying job ``job_id``'s buttons, once the job is delivered."""
    def shown() -> list[View]:
        done = query(database, "SELECT 1 FROM jobs WHERE id = %s AND state = 'delivered'",
                     job_id)
        return [v for v in person.views()
                if any(data == f"again:{job_id}" for _, data in v.buttons)] if done else []

    return wait_until(shown, 40, f"job #{job_id}'s result with its buttons")[-1]


def confirm(person: Person, screen: View) -> int:
    mark, _ = person.press("Confirm", on=screen)
    accepted = person.expect("accepted", mark)
    return int(accepted.text.split("#")[1].split()[0])


def kie_tasks(database: str, job_id: int) -> list[str]:
    rows = query(database, "SELECT task_id FROM kie_tasks WHERE job_id = %s AND "
                           "state = 'success'", job_id)
    return [r["task_id"] for r in rows]


def kie_request(kie: KieEmulator, task_id: str) -> dict[str, Any]:
    """The body KIE received for ``task_id``."""
    with kie.core.lock:
        return dict(kie.core.tasks[task_id].request)


def captured(database: str, user_id: int) -> list[int]:
    rows = query(database, "SELECT amount FROM ledger WHERE user_id = %s AND "
                           "kind::text = 'capture' ORDER BY id", user_id)
    return [r["amount"] for r in rows if r["amount"]]


def test_a_veo_video_is_extended_from_the_button_with_its_own_task_id(
    node: NodeProcess, telegram: TelegramEmulator, kie: KieEmulator, database: str,
) -> None:
    person = Person(telegram, 7701)
    person.say("/start", "What would you like to make?")
    source = confirm(person, person.say('/gen veo3_fast prompt="a fox runs in the snow"',
                                        "Please check your order"))
    video = result_message(person, database, source)
    labels = [label for label, _ in video.buttons]
    assert labels[:2] == ["🎬 Extend", "📺 4K"] and labels[-1] == "🔁 Again", labels
    assert all(len(data.encode()) <= 64 and "veo_task" not in data for _, data in video.buttons)
    (source_task,) = kie_tasks(database, source)

    mark, _ = person.press("Extend", on=video)
    question = person.expect("Describe how the video continues", mark)
    assert f"Continuing result #{source}" in question.text and source_task not in question.text
    screen = person.say("the fox jumps over a frozen river", "Please check your order")
    assert f"{VEO_FAST_PRICE} credits" in screen.text and source_task not in screen.text
    extend = confirm(person, screen)
    result_message(person, database, extend)

    job = next(j for j in jobs_of(database, 7701) if j["id"] == extend)
    assert job["model_id"] == "veo3_fast-extend" and job["state"] == "delivered"
    assert job["input"] == {"taskId": source_task, "prompt": "the fox jumps over a frozen river"}
    (extend_task,) = kie_tasks(database, extend)
    sent = kie_request(kie, extend_task)
    assert sent["taskId"] == source_task and sent["model"] == "fast"
    assert balance(database, 7701) == (WELCOME - 2 * VEO_FAST_PRICE, 0), "each charged once"
    assert captured(database, 7701) == [VEO_FAST_PRICE, VEO_FAST_PRICE]


def test_a_suno_song_is_extended_with_its_first_track_s_id(
    node: NodeProcess, telegram: TelegramEmulator, kie: KieEmulator, database: str,
) -> None:
    person = Person(telegram, 7702)
    person.say("/start", "What would you like to make?")
    source = confirm(person, person.say(
        '/gen V4_5PLUS prompt="a calm song by the sea" customMode=false instrumental=false',
        "Please check your order"))
    song = result_message(person, database, source)
    assert song.buttons[0][0] == "🎵 Extend", song.buttons
    (source_task,) = kie_tasks(database, source)
    (row,) = query(database, "SELECT result_ids FROM jobs WHERE id = %s", source)
    assert row["result_ids"] == [f"{source_task}-0", f"{source_task}-1"]  # KIE's track ids

    mark, _ = person.press("Extend", on=song)
    person.expect("Set the lyrics, style and title of the continuation?", mark)
    person.step("No", "Optional settings")            # continue in the song's own style
    extend = confirm(person, person.step("Use defaults", "Please check your order"))
    result_message(person, database, extend)

    (extend_task,) = kie_tasks(database, extend)
    sent = kie_request(kie, extend_task)
    assert sent["audioId"] == f"{source_task}-0" and sent["model"] == "V4_5PLUS"
    assert balance(database, 7702) == (WELCOME - 2 * SUNO_PRICE, 0)
    assert captured(database, 7702) == [SUNO_PRICE, SUNO_PRICE]
