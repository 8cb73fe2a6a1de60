"""The real node killed -9 while a user's photo is on its way to KIE's upload API.

Promise under test (issue 12): a ``kill -9`` during an upload loses nothing the user
confirmed, and charges nothing the user did not. Before the confirm, the conversation is
still usable after the restart and nothing was charged; after the confirm (a stale upload
redone before createTask), the job still completes: one KIE task, delivered once, charged
once, its hold captured, never released.

KIE's upload is made slow with a ``delay`` fault on ``upload.stream`` (the emulator stores
the file, then answers only after the delay): the test waits until the emulator has the
upload request, then kills the node while the node is still waiting for the answer.
"""

from __future__ import annotations

import time

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import Person, balance, jobs_of, query
from tests.acceptance.harness import NodeProcess, wait_until

pytestmark = pytest.mark.acceptance

WELCOME = 20  # TRT_WELCOME_CREDITS, as the harness sets it
SLOW = {"kind": "delay", "delay_s": 60, "next": 1}  # far longer than it takes to kill
TTL = 1.0


def stream_uploads(kie: KieEmulator) -> int:
    """upload.stream requests the emulator has received (answered or not)."""
    return int(kie.stats(details=False)["calls"].get("upload.stream", 0))


def ledger_kinds(database: str, job_id: int) -> list[str]:
    return [r["kind"] for r in query(database, "SELECT kind::text AS kind FROM ledger "
                                               "WHERE job_id = %s ORDER BY id", job_id)]


def to_the_photo_question(person: Person) -> None:
    person.say("/start", "What would you like to make?")
    person.step("Images", "what should the model do?")
    person.step("Remove background", "choose a model")
    person.step("Remove Background", "Price")
    person.step("Start", "photo or file")


def test_kill9_mid_upload_before_confirm_charges_nothing_and_the_chat_goes_on(
    node: NodeProcess, telegram: TelegramEmulator, kie: KieEmulator, database: str,
) -> None:
    node.start()
    person = Person(telegram, 901)
    to_the_photo_question(person)
    kie.set_faults({"endpoints": {"upload.stream": SLOW}})
    mark = person.mark()
    telegram.send_media(901, "photo", size=200_000)
    wait_until(lambda: stream_uploads(kie) == 1, 20, "KIE to receive the photo's upload")
    node.kill9()
    assert not person.texts("check your order"), "the kill came before the upload's answer"

    node.start()
    # The photo the user saw "uploading" never reached the node's wizard: the user, with no
    # answer, sends it again, and the wizard takes it.
    assert jobs_of(database, 901) == [], "no job before the user confirms"
    assert balance(database, 901) == (WELCOME, 0), "nothing charged, nothing held"
    mark = person.mark()
    telegram.send_media(901, "photo", size=150_000)
    screen = person.expect("check your order", mark)
    assert not person.texts("not taken"), "the photo sent again was taken"
    person.press("Confirm", on=screen)
    wait_until(lambda: [j["state"] for j in jobs_of(database, 901)] == ["delivered"], 30,
               "the job to be delivered")
    wait_until(lambda: person.texts("done"), 10, "the status message to say done")

    [job] = jobs_of(database, 901)
    assert len(person.media()) == 1, "the result arrived once"
    assert balance(database, 901) == (WELCOME - job["price"], 0) and job["price"] > 0
    assert ledger_kinds(database, job["id"]) == ["hold", "capture"]
    assert kie.stats(details=False)["creates"] == 1
    [resent] = [u for u in kie.uploads() if u["fileSize"] == 150_000]
    assert job["input"]["image"] == resent["downloadUrl"], "the job uses the photo sent again"


def test_kill9_mid_album_upload_leaves_done_working_after_the_restart(
    node: NodeProcess, telegram: TelegramEmulator, kie: KieEmulator, database: str,
) -> None:
    node.start()
    person = Person(telegram, 903)
    person.say("/start", "What would you like to make?")
    person.step("Images", "what should the model do?")
    person.step("Image editing", "choose a model")
    person.step("Nano Banana Edit", "Price")
    person.step("Start", "Describe")
    person.say("make it snow", "up to 10")
    mark = person.mark()
    telegram.send_media(903, "photo", size=120_000)
    person.expect("1 of up to 10", mark)
    kie.set_faults({"endpoints": {"upload.stream": SLOW}})
    telegram.send_media(903, "photo", size=130_000)
    wait_until(lambda: stream_uploads(kie) == 2, 20, "KIE to receive the second upload")
    node.kill9()

    node.start()
    # The second photo's upload died with the node: it must not hold Done (or a slot).
    mark, _ = person.press("Done")
    after = person.expect(lambda v: "did not arrive" in v.text or "Still uploading" in v.text,
                          mark)
    assert "Still uploading" not in after.text, "Done waited for an upload that died"
    person.expect(lambda v: "Optional settings" in v.text or "check your order" in v.text, mark)
    assert jobs_of(database, 903) == [] and balance(database, 903) == (WELCOME, 0)


def test_kill9_mid_reupload_after_confirm_still_delivers_once_and_charges_once(
    database: str, kie: KieEmulator, telegram: TelegramEmulator, node: NodeProcess,
) -> None:
    node.env["TRT_KIE_UPLOAD_TTL_S"] = str(TTL)
    node.start()
    person = Person(telegram, 902)
    to_the_photo_question(person)
    mark = person.mark()
    telegram.send_media(902, "photo", size=200_000)
    screen = person.expect("check your order", mark)
    uploaded = time.monotonic()
    assert stream_uploads(kie) == 1
    # The user reads the order longer than the node trusts KIE to keep the upload.
    wait_until(lambda: time.monotonic() - uploaded > TTL * 1.5, 5, "the upload to age")
    kie.set_faults({"endpoints": {"upload.stream": SLOW}})
    person.press("Confirm", on=screen)
    wait_until(lambda: stream_uploads(kie) == 2, 20, "the job's re-upload to reach KIE")
    node.kill9()
    [job] = jobs_of(database, 902)
    assert job["state"] in ("created", "submitting"), "killed before createTask"
    assert kie.stats(details=False)["creates"] == 0
    price = int(job["price"])
    assert price > 0 and balance(database, 902) == (WELCOME - price, price), "held"

    node.start()
    wait_until(lambda: [j["state"] for j in jobs_of(database, 902)] in (["delivered"],
                                                                       ["failed"]),
               60, "the job to end")
    wait_until(lambda: person.texts("done"), 10, "the status message to say done")

    [job] = jobs_of(database, 902)
    assert job["state"] == "delivered", job
    assert len(person.media()) == 1, "delivered once"
    assert balance(database, 902) == (WELCOME - price, 0), "charged once"
    assert ledger_kinds(database, job["id"]) == ["hold", "capture"], "never released"
    assert kie.stats(details=False)["creates"] == 1, "one KIE task"
    assert stream_uploads(kie) == 3, "the restarted node uploaded the photo again"
    live = [u["downloadUrl"] for u in kie.uploads() if not u["expired"]]
    assert job["input"]["image"] in live
